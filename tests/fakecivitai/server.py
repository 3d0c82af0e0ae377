"""``FakeCivitai``: the API, the presigned file store and the image CDN, started together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

from .api import ApiServer
from .cdn import FakeCdn
from .data import World, make_default_world
from .faults_api import ApiFaults
from .httpbase import RecordedRequest, RequestLog

API_KEY = "fake-key-0123456789abcdef"

WorldFactory = Callable[[FakeCdn, FakeCdn], World]


class FakeCivitai:
    """Three loopback servers: ``api`` (127.0.0.1), ``files`` and ``images`` (``localhost``).

    Use as a context manager; every request to any of them is recorded in ``requests``.

    Args:
        world: builds the data from the two CDNs (default: :func:`make_default_world`).
        api_port: the API's port (0: any free port).
    """

    def __init__(self, world: WorldFactory | None = None, api_port: int = 0) -> None:
        self._log = RequestLog()
        self.api_key = API_KEY
        self.files = FakeCdn("files", self._log)
        self.images = FakeCdn("images", self._log)
        self._api = ApiServer(self._log, API_KEY, api_port)
        self.api_base = self._api.base_url
        self.world: World = (world or make_default_world)(self.files, self.images)
        self._api.world = self.world  # type: ignore[assignment]
        self._started = False

    @property
    def api_faults(self) -> ApiFaults:
        """Fault switches of the API server."""
        return self._api.faults

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request recorded so far on the three servers (a copy)."""
        return self._log.snapshot()

    def requests_to(self, server: str) -> list[RecordedRequest]:
        """Recorded requests of one server ("api", "files" or "images")."""
        return [r for r in self._log.snapshot() if r.server == server]

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self._log.clear()

    def set_world(self, world: World) -> None:
        """Serve another world (built on ``self.files`` / ``self.images``)."""
        self.world = world
        self._api.world = world  # type: ignore[assignment]

    def start(self) -> FakeCivitai:
        """Start the servers (idempotent)."""
        if not self._started:
            self.files.start()
            self.images.start()
            self._api.start()
            self._started = True
        return self

    def stop(self) -> None:
        """Stop the servers."""
        if self._started:
            # Stopping waits for each serve loop's poll; do the three at once.
            stoppers = [
                threading.Thread(target=part.stop) for part in (self._api, self.files, self.images)
            ]
            for thread in stoppers:
                thread.start()
            for thread in stoppers:
                thread.join()
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
