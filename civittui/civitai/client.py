"""Typed CivitAI API calls over one `httpx.AsyncClient`, every request through the gate.

Secrets: the API key and cookie go only to `api_base`'s host, only in headers (never a URL), and a
`nextPage` that points at another host is re-rooted on `api_base` rather than followed. Redirects
are never followed: the download resolve reads `Location` itself, so the key cannot ride along to
the storage host (httpx strips only `Authorization` on cross-host redirects, not cookies).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from civittui import USER_AGENT
from civittui.civitai.errors_map import api_error, parse_retry_after
from civittui.civitai.gate import ApiGate
from civittui.config import Config
from civittui.errors import ApiError
from civittui.redact import quiet_http_loggers

__all__ = ["CivitaiClient"]

Json = dict[str, Any]
Params = Mapping[str, str | int | Sequence[str]]

_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
_TRPC_REFERER = "https://civitai.com/"


class CivitaiClient:
    """The only code that talks to CivitAI's API.

    Args:
        config: effective configuration (api_base, key, cookie, nsfw, rate).
        gate: the run's shared gate.
        transport: an httpx transport for tests of pure logic (real tests use the fake server).
    """

    def __init__(
        self,
        config: Config,
        gate: ApiGate,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        quiet_http_loggers()
        self._config = config
        self._gate = gate
        base = urlsplit(config.api_base.rstrip("/"))
        self._scheme, self._netloc = base.scheme, base.netloc
        self._secret_headers: dict[str, str] = {}
        if config.api_key:
            self._secret_headers["Authorization"] = f"Bearer {config.api_key}"
        if config.cookie:
            self._secret_headers["Cookie"] = config.cookie
        self._posts_endpoint_missing = False
        self._http = httpx.AsyncClient(
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=httpx.Timeout(30.0, connect=15.0),
            follow_redirects=False,
            transport=transport,
            trust_env=False,
        )

    def use_credentials(self, config: Config) -> None:
        """Send `config`'s API key and cookie from the next request on (same host rules)."""
        self._config = config
        headers: dict[str, str] = {}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        if config.cookie:
            headers["Cookie"] = config.cookie
        self._secret_headers = headers

    @property
    def calls(self) -> int:
        """API requests made so far (all workers)."""
        return self._gate.calls

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- plumbing ---------------------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        """An absolute URL on `api_base`'s host (foreign hosts are re-rooted, never called)."""
        parts = urlsplit(path_or_url)
        return urlunsplit((self._scheme, self._netloc, parts.path, parts.query, ""))

    async def _send(
        self,
        url: str,
        *,
        params: Params | None,
        headers: Mapping[str, str] | None = None,
        expect_json: bool = True,
    ) -> httpx.Response:
        """GET with spacing, backoff and retries; returns the final response (any status)."""
        retries = self._config.rate.retries
        attempt = 0
        while True:
            attempt += 1
            await self._gate.acquire()
            try:
                response = await self._http.get(
                    url,
                    params=params,
                    headers={**self._secret_headers, **(headers or {})},
                    extensions={"trace": self._trace},
                )
            except httpx.TransportError as exc:
                # Resets, timeouts, truncated bodies: the server may be fine a moment later.
                if attempt > retries:
                    raise ApiError(
                        f"network error talking to CivitAI ({type(exc).__name__}) "
                        f"after {retries} retries"
                    ) from None
                self._gate.cool_down(self._gate.backoff_delay(attempt, None), "network error")
                continue
            status = response.status_code
            retryable = status in _RETRY_STATUSES or (
                expect_json and status < 300 and not _is_json(response)
            )
            if status == 403 and _is_html(response):
                retryable = True  # a Cloudflare challenge page, not CivitAI's answer
            if not retryable:
                return response
            # The cool-down applies even when we give up: it is kept in the state, so the
            # next request (or the next run) does not hit a server that asked for a pause.
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            self._gate.cool_down(self._gate.backoff_delay(attempt, retry_after), str(status))
            if attempt > retries:
                if status == 429:
                    return response
                raise ApiError(
                    f"CivitAI kept failing ({status}) after {retries} retries",
                    http_status=status,
                )

    async def _trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event.endswith("send_request_headers.started"):
            self._gate.sent()

    async def get_json(self, path_or_url: str, params: Params | None = None) -> Any:
        """GET an API URL and return its JSON.

        Raises:
            ApiError: an error status (after retries where they make sense), with a reason.
        """
        response = await self._send(self.url(path_or_url), params=params)
        body = _json_or_none(response)
        if response.status_code >= 300 or body is None:
            raise api_error(response.status_code, body, has_key=bool(self._config.api_key))
        return body

    async def paginate(self, path: str, params: Params) -> AsyncIterator[list[Json]]:
        """Yield each page's `items`, following `metadata.nextPage` until it is absent."""
        url: str | None = self.url(path)
        page_params: Params | None = params
        seen: set[str] = set()
        while url:
            data = await self.get_json(url, page_params)
            items = data.get("items") if isinstance(data, dict) else None
            yield [item for item in items or [] if isinstance(item, dict)]
            metadata = data.get("metadata") if isinstance(data, dict) else None
            next_page = metadata.get("nextPage") if isinstance(metadata, dict) else None
            if not isinstance(next_page, str) or not next_page or next_page in seen:
                return
            seen.add(next_page)
            url, page_params = self.url(next_page), None

    # -- endpoints --------------------------------------------------------------------------

    def _images_params(self, **filters: str | int) -> dict[str, str | int | Sequence[str]]:
        return {
            **filters,
            "limit": 200,
            "nsfw": _NSFW_IMAGES[self._config.nsfw],
            "withMeta": "true",
            "flatMeta": "true",
            "sort": "Newest",
        }

    async def user_models(
        self, username: str, *, types: Sequence[str] = ()
    ) -> AsyncIterator[list[Json]]:
        """Pages of a creator's models (every published version, files, showcase image ids)."""
        params: dict[str, str | int | Sequence[str]] = {
            "username": username,
            "limit": 100,
            "sort": "Newest",
        }
        if self._config.nsfw != "none":
            params["nsfw"] = "true"
        if types:
            params["types"] = list(types)
        async for page in self.paginate("/api/v1/models", params):
            yield page

    async def model(self, model_id: int) -> Json:
        """One model with all its published versions."""
        data = await self.get_json(f"/api/v1/models/{model_id}")
        return data if isinstance(data, dict) else {}

    async def model_version(self, version_id: int) -> Json:
        """One model version (with its model's name and type)."""
        data = await self.get_json(f"/api/v1/model-versions/{version_id}")
        return data if isinstance(data, dict) else {}

    async def images(self, **filters: str | int) -> AsyncIterator[list[Json]]:
        """Pages of images with flat generation metadata, at the configured nsfw level."""
        async for page in self.paginate("/api/v1/images", self._images_params(**filters)):
            yield page

    async def post(self, post_id: int) -> Json | None:
        """A post's fields (title, modelVersionId, user) or None when CivitAI won't say.

        Tries the documented REST route first; when that is not deployed (404), uses tRPC
        `post.get` for the rest of the run.
        """
        if not self._posts_endpoint_missing:
            try:
                data = await self.get_json(f"/api/v1/posts/{post_id}")
            except ApiError as exc:
                if exc.http_status != 404:
                    return None
                self._posts_endpoint_missing = True
            else:
                return data if isinstance(data, dict) else None
        payload = json.dumps({"json": {"id": post_id}}, separators=(",", ":"))
        response = await self._send(
            self.url("/api/trpc/post.get"),
            params={"input": payload},
            headers={"Referer": _TRPC_REFERER},
        )
        body = _json_or_none(response)
        if response.status_code >= 300 or not isinstance(body, dict):
            return None
        result = body.get("result", {}).get("data", {}).get("json")
        return result if isinstance(result, dict) else None

    async def resolve_download(self, download_url: str) -> str:
        """The presigned storage URL behind `/api/download/models/{v}` (redirect not followed).

        Raises:
            ApiError: login required, early access, deleted, archived, or an HTML page.
        """
        response = await self._send(self.url(download_url), params=None, expect_json=False)
        status = response.status_code
        if status in (301, 302, 303, 307, 308):
            location = response.headers.get("Location", "")
            target = urlsplit(location)
            if not target.scheme or not target.netloc:
                raise ApiError("CivitAI redirected the download to a page: login may be required")
            if target.netloc == self._netloc:
                raise ApiError(
                    "CivitAI sent the download to its own site (login or early-access page)",
                    http_status=status,
                )
            return str(location)
        body = _json_or_none(response)
        if status < 300:
            raise ApiError(
                "CivitAI sent a page instead of the file: login may be required (set an API key)",
                http_status=status,
            )
        raise api_error(status, body, has_key=bool(self._config.api_key))


_NSFW_IMAGES = {"none": "None", "soft": "Soft", "mature": "Mature", "x": "X"}


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("Content-Type", "").lower()


def _is_html(response: httpx.Response) -> bool:
    return "html" in response.headers.get("Content-Type", "").lower()


def _json_or_none(response: httpx.Response) -> Any:
    if not _is_json(response):
        return None
    try:
        return response.json()
    except ValueError:
        return None
