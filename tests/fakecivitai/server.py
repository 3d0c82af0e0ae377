"""``FakeCivitai``: the API, the presigned file store and the image CDN, started together."""

from __future__ import annotations

from types import TracebackType

from .cdn import FakeCdn
from .httpbase import RecordedRequest, RequestLog

API_KEY = "fake-key-0123456789abcdef"


class FakeCivitai:
    """Three loopback servers: ``api`` (127.0.0.1), ``files`` and ``images`` (``localhost``).

    Use as a context manager; every request to any of them is recorded in ``requests``.
    """

    def __init__(self) -> None:
        self._log = RequestLog()
        self.api_key = API_KEY
        self.files = FakeCdn("files", self._log)
        self.images = FakeCdn("images", self._log)
        self._started = False

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request recorded so far on the three servers (a copy)."""
        return self._log.snapshot()

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self._log.clear()

    def start(self) -> FakeCivitai:
        """Start the servers (idempotent)."""
        if not self._started:
            self.files.start()
            self.images.start()
            self._started = True
        return self

    def stop(self) -> None:
        """Stop the servers."""
        if self._started:
            self.files.stop()
            self.images.stop()
            self._started = False

    def __enter__(self) -> FakeCivitai:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
