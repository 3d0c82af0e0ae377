"""Reading a long body with a known length straight from the socket.

httpx's HTTP/1.1 parser (h11) copies every body byte twice on its way out: for a big body on
a fast link that is a fifth of the reading thread's time. When the response came over
httpcore's own HTTP/1.1 connection with a `Content-Length` and no transfer coding, the body
is read from the socket directly instead: first what the parser already buffered past the
headers, then `recv` up to the announced length, never beyond. The parser never sees the
body, so the connection is closed afterwards rather than reused (one new connection per body
of `policy.DIRECT_MIN` bytes or more). Anything else (a proxy, a chunked body, a layout of
httpx or httpcore this does not know) is read through httpx as before.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import h11
import httpx

from civittui.download.builtin import policy
from civittui.download.builtin.connections import content_length

__all__ = ["direct_body"]

try:
    from httpcore._sync.http11 import HTTP11ConnectionByteStream as _BodyStream
except ImportError:  # another httpcore: every body is read through httpx
    _BodyStream = None  # type: ignore[assignment,misc]


def direct_body(response: httpx.Response, timeout: float | None) -> Iterator[bytes] | None:
    """The body's bytes read from the socket, or None when this response cannot be.

    Args:
        response: a streamed response whose body was not read yet.
        timeout: seconds one socket read may wait (httpx's read timeout).
    """
    length = content_length(response)
    if length is None or length < policy.DIRECT_MIN or "transfer-encoding" in response.headers:
        return None
    found = _connection(response)
    if found is None:
        return None
    state, sock = found
    return _chunks(state, sock, length, timeout)


def _connection(response: httpx.Response) -> tuple[h11.Connection, socket.socket] | None:
    # httpx's stream wraps httpcore's pool stream, which wraps the HTTP/1.1 body stream.
    stream: object = response.stream
    for name in ("_stream", "_httpcore_stream", "_stream"):
        stream = getattr(stream, name, None)
    if _BodyStream is None or not isinstance(stream, _BodyStream):
        return None
    conn = stream._connection
    state = getattr(conn, "_h11_state", None)
    sock = getattr(getattr(conn, "_network_stream", None), "_sock", None)
    if (
        not isinstance(state, h11.Connection)
        or state.their_state is not h11.SEND_BODY
        or not isinstance(sock, socket.socket)
    ):
        return None
    return state, sock


def _chunks(
    state: h11.Connection, sock: socket.socket, length: int, timeout: float | None
) -> Iterator[bytes]:
    left = length
    buffered = state.trailing_data[0][:left]
    if buffered:
        left -= len(buffered)
        yield buffered
    sock.settimeout(timeout)
    while left > 0:
        try:
            data = sock.recv(min(policy.READ_SIZE, left))
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        if not data:
            return  # the server hung up: the reader sees a body shorter than announced
        left -= len(data)
        yield data
