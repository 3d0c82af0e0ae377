"""Calls that find versions by a file's hash, and models by id: how `adopt` identifies files
already on disk. `CivitaiClient` inherits them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from civittui.config import Config
from civittui.errors import ApiError

__all__ = ["BY_HASH_BATCH", "ByHashCalls"]

Json = dict[str, Any]
Params = Mapping[str, str | int | Sequence[str]]

BY_HASH_BATCH = 100
"""Hashes per `POST /model-versions/by-hash` (the server's zod schema: `.max(100)`)."""


class ByHashCalls:
    """The by-hash and by-id calls of `CivitaiClient` (which supplies the transport)."""

    _config: Config

    if TYPE_CHECKING:

        async def get_json(self, path_or_url: str, params: Params | None = None) -> Any: ...

        async def post_json(self, path: str, body: object) -> Any: ...

        def paginate(self, path: str, params: Params) -> AsyncIterator[list[Json]]: ...

        def _checked(self, page: list[Json], check: Callable[[object], Json]) -> list[Json]: ...

        def _check_model(self, raw: object) -> Json: ...

    async def versions_by_hash(self, sha256s: Sequence[str]) -> list[Json]:
        """The published versions that have a file with one of these SHA256s (at most
        `BY_HASH_BATCH`; `POST /api/v1/model-versions/by-hash`, civitai/civitai
        src/pages/api/v1/model-versions/by-hash/index.ts: an array of 64-character hashes in,
        an array of version bodies as `/model-versions/{id}` out, without the creator).

        Raises:
            ApiError: the request failed.
        """
        if len(sha256s) > BY_HASH_BATCH:
            raise ValueError(f"at most {BY_HASH_BATCH} hashes a call")
        data = await self.post_json("/api/v1/model-versions/by-hash", [h.upper() for h in sha256s])
        return [v for v in data if isinstance(v, dict)] if isinstance(data, list) else []

    async def version_by_hash(self, any_hash: str) -> Json | None:
        """The version with a file having this hash of any type (AutoV2…), or None (404)."""
        try:
            data = await self.get_json(f"/api/v1/model-versions/by-hash/{any_hash.upper()}")
        except ApiError as exc:
            if exc.http_status == 404:
                return None
            raise
        return data if isinstance(data, dict) else None

    async def models_by_ids(self, model_ids: Sequence[int]) -> AsyncIterator[list[Json]]:
        """Pages of the given models (with creator, versions, files), 100 ids a listing."""
        for start in range(0, len(model_ids), 100):
            chunk = model_ids[start : start + 100]
            params: dict[str, str | int | Sequence[str]] = {
                "ids": ",".join(str(i) for i in chunk),
                "limit": 100,
            }
            if self._config.nsfw != "none":
                params["nsfw"] = "true"
            async for page in self.paginate("/api/v1/models", params):
                yield self._checked(page, self._check_model)
