"""Settings a running engine takes up live: the API key and cookie, the API gap, how many
downloads of each kind run at once, and the filter lists (edited in the TUI)."""

from __future__ import annotations

from dataclasses import replace

from civittui.civitai.client import CivitaiClient
from civittui.config import Config
from civittui.engine.process import ItemProcessor
from civittui.engine.workers import ItemFlow
from civittui.prompts.filters import FilterSet

__all__ = ["WORKERS", "LiveSettings"]

WORKERS = 16
"""Workers started per kind; a limiter lets `concurrency` of them run, changeable live."""


class LiveSettings(ItemFlow):
    """The engine's commands that change settings while it runs."""

    _filters: FilterSet
    _client: CivitaiClient | None = None
    _processor: ItemProcessor | None = None

    def use_filters(self, filters: FilterSet) -> None:
        """Filter the prompts of the next images' sidecars with these lists (edited in a UI)."""
        self._filters = filters
        if self._processor is not None:
            self._processor.use_filters(filters)

    def apply_config(self, config: Config) -> None:
        """Use new settings from the next request on, as far as a running engine can: the API
        key and cookie, `[rate]` (the gap between API calls) and `[concurrency]` (up to 16 of
        each kind; running downloads finish). Folders and the downloader stay as they are until
        the next start."""
        self._redact.add([config.api_key, config.cookie, config.aria2_secret])
        self._config = replace(
            self._config,
            api_key=config.api_key,
            cookie=config.cookie,
            rate=config.rate,
            concurrency=config.concurrency,
        )
        self._gate.set_rate(config.rate)
        if self._client is not None:
            self._client.use_credentials(self._config)
        if self._limits is not None:
            images, files = self._limits
            images.total_tokens = max(1, min(WORKERS, config.concurrency.images))
            files.total_tokens = max(1, min(WORKERS, config.concurrency.files))
