"""An API answer read within limits: a body unpacked a piece at a time, parsed strictly or not."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from civittui.errors import ApiError

__all__ = ["Answer", "BoundedBody", "too_large"]


def too_large(limit: int) -> ApiError:
    """The error for a body over `limit` bytes."""
    return ApiError(f"CivitAI sent a response larger than {limit >> 20} MiB (refused)")


@dataclass(frozen=True, slots=True)
class Answer:
    """A response whose body has been read (and unpacked) within the limits."""

    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def is_json(self) -> bool:
        return "json" in self.headers.get("Content-Type", "").lower()

    @property
    def is_html(self) -> bool:
        return "html" in self.headers.get("Content-Type", "").lower()

    def json(self, *, strict: bool = True) -> Any:
        """The parsed body, or None when it is not (declared) JSON.

        Raises:
            ApiError: (strict) declared JSON that does not parse (or nests beyond the parsers'
                limits); not strict, that is None too.
        """
        if not self.is_json:
            return None
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            pass
        try:
            # orjson refuses NaN / Infinity literals; `json` reads them so the record checks
            # can drop the one record that carries them rather than the whole page.
            return json.loads(self.body)
        except (ValueError, RecursionError):
            if not strict:
                return None
            raise ApiError(
                "CivitAI sent malformed JSON (not parseable, or nested too deeply)",
                http_status=self.status,
            ) from None


class BoundedBody:
    """Unpacks a gzip/deflate body a piece at a time, refusing more than `limit` bytes.

    httpx's own decoder inflates each network read whole: 256 KiB of a gzip bomb is 256 MB.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self._limit = limit
        self._parts: list[bytes] = []
        self._size = 0
        kind = encoding.strip().lower()
        if kind in ("", "identity"):
            self._inflate: Any = None
        elif kind in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif kind == "deflate":
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise ApiError(f"CivitAI sent a body in an encoding not asked for ({kind[:20]})")
        self._raw_deflate = kind == "deflate"

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            raise too_large(self._limit)
        if data:
            self._parts.append(data)

    def feed(self, chunk: bytes) -> None:
        if self._inflate is None:
            self._keep(chunk)
            return
        data = chunk
        while data:
            room = self._limit - self._size + 1
            try:
                out = self._inflate.decompress(data, room)
            except zlib.error:
                if not self._raw_deflate or self._size:
                    raise ApiError("CivitAI sent a corrupt compressed body") from None
                # "deflate" is often sent without the zlib header (as httpx also accepts).
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                self._raw_deflate = False
                continue
            self._keep(out)
            data = self._inflate.unconsumed_tail

    def finish(self) -> bytes:
        if self._inflate is not None:
            self._keep(self._inflate.flush())
        return b"".join(self._parts)
