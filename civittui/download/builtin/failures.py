"""Why a builtin download attempt stopped, and which reason wins when several ranges fail."""

from __future__ import annotations

import httpx

from civittui.download.builtin import policy
from civittui.errors import DownloadError

__all__ = [
    "BadContent",
    "CredentialsRefused",
    "Restart",
    "ShortBody",
    "Stalled",
    "Unsatisfiable",
    "describe",
    "pick",
]


class Restart(Exception):
    """The server misbehaved: drop the `.part` and start over (plain: without Range)."""

    def __init__(self, why: str, *, plain: bool) -> None:
        super().__init__(why)
        self.why = why
        self.plain = plain


class Unsatisfiable(Exception):
    """The server answered 416; `total` is the size it announced, if any."""

    def __init__(self, total: int | None) -> None:
        super().__init__(total)
        self.total = total


class CredentialsRefused(Exception):
    """A request to a download host would have carried credentials."""


class BadContent(Exception):
    """The body is not the file (an error page): the `.part` is deleted, the download fails."""


class ShortBody(Exception):
    """A response ended cleanly but before the bytes it announced."""


class Stalled(Exception):
    """A response kept its connection alive but brought almost nothing (see `STALL_WINDOW`)."""


_PRIORITY = (CredentialsRefused, BadContent, DownloadError, Restart, Unsatisfiable)


def pick(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The exception that explains a failed task group (the first by `_PRIORITY`)."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    for kind in _PRIORITY:
        for exc in leaves:
            if isinstance(exc, kind):
                return exc
    return group


def describe(exc: BaseException) -> str:
    """A failure reason for a transport error, in our words (never a URL)."""
    if isinstance(exc, httpx.TimeoutException):
        return "the connection timed out"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection mid-transfer"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect to the download host"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return "the connection was reset"
    if isinstance(exc, ShortBody):
        return "the server sent fewer bytes than announced"
    if isinstance(exc, Stalled):
        return (
            f"the download stalled (less than {policy.STALL_MIN_BYTES >> 10} KiB "
            f"in {policy.STALL_WINDOW:g} s)"
        )
    if isinstance(exc, TimeoutError):
        return "the server took too long to answer"
    return "the transfer failed"
