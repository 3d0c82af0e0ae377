"""Typed CivitAI API calls over one `httpx.AsyncClient`, every request through the gate.

Secrets: the API key and cookie go only to `api_base`'s host, only in headers (never a URL), and a
`nextPage` that points at another host is re-rooted on `api_base` rather than followed. Redirects
are never followed: the download resolve reads `Location` itself, so the key cannot ride along to
the storage host (httpx strips only `Authorization` on cross-host redirects, not cookies).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx
import orjson

from civittui import USER_AGENT
from civittui.civitai.body import Answer, BoundedBody, too_large
from civittui.civitai.by_hash import BY_HASH_BATCH, ByHashCalls
from civittui.civitai.errors_map import api_error, parse_retry_after
from civittui.civitai.gate import ApiGate
from civittui.civitai.models import BadRecord, check_image, check_model
from civittui.config import Config
from civittui.errors import ApiError
from civittui.redact import quiet_http_loggers

__all__ = ["API_DEADLINE", "BY_HASH_BATCH", "MAX_BODY", "CivitaiClient"]

Json = dict[str, Any]
Params = Mapping[str, str | int | Sequence[str]]
Report = Callable[[str], None]

MAX_BODY = 32 << 20
"""Bytes an API answer may have after decompression. A real page is at most a few MB (100
models with descriptions); a 3 MB gzip bomb once unpacked to 9 GB in memory."""
API_DEADLINE = 120.0
"""Seconds one API request may take in all (connect, headers, whole body). The per-read
timeout alone never fires on a server that sends a byte every few seconds."""
STALE_PAGES = 3
"""Pages in a row that bring no new ids before a listing is taken as looping (a server that
hands out fresh cursors over the same items ran 570 pages)."""

_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
_TRPC_REFERER = "https://civitai.com/"


class CivitaiClient(ByHashCalls):
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
        on_drop: Report | None = None,
        on_note: Report | None = None,
    ) -> None:
        quiet_http_loggers()
        self._config = config
        self._gate = gate
        self._on_drop = on_drop or (lambda reason: None)
        self._on_note = on_note or (lambda note: None)
        base = urlsplit(config.api_base.rstrip("/"))
        self._scheme, self._netloc = base.scheme, base.netloc
        self._secret_headers: dict[str, str] = {}
        if config.api_key:
            self._secret_headers["Authorization"] = f"Bearer {config.api_key}"
        if config.cookie:
            self._secret_headers["Cookie"] = config.cookie
        self._posts_endpoint_missing = False
        self._http = httpx.AsyncClient(
            # Only encodings `BoundedBody` can unpack a piece at a time.
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate",
            },
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
        body: object = None,
    ) -> Answer:
        """GET (POST when `body` is given, as JSON) with spacing, backoff and retries; returns
        the final answer (any status)."""
        retries = self._config.rate.retries
        attempt = 0
        while True:
            attempt += 1
            await self._gate.acquire()
            try:
                with anyio.fail_after(API_DEADLINE):
                    answer = await self._get(url, params, headers, body)
            except (httpx.TransportError, TimeoutError) as exc:
                # Resets, timeouts, truncated bodies: the server may be fine a moment later.
                if attempt > retries:
                    what = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
                    raise ApiError(
                        f"network error talking to CivitAI ({what}) after {retries} retries"
                    ) from None
                self._gate.cool_down(self._gate.backoff_delay(attempt, None), "network error")
                continue
            status = answer.status
            retryable = status in _RETRY_STATUSES or (
                expect_json and status < 300 and not answer.is_json
            )
            if status == 403 and answer.is_html:
                retryable = True  # a Cloudflare challenge page, not CivitAI's answer
            if not retryable:
                return answer
            # The cool-down applies even when we give up: it is kept in the state, so the
            # next request (or the next run) does not hit a server that asked for a pause.
            retry_after = parse_retry_after(answer.headers.get("Retry-After"))
            self._gate.cool_down(self._gate.backoff_delay(attempt, retry_after), str(status))
            if attempt > retries:
                if status == 429:
                    return answer
                raise ApiError(
                    f"CivitAI kept failing ({status}) after {retries} retries",
                    http_status=status,
                )

    async def _get(
        self,
        url: str,
        params: Params | None,
        headers: Mapping[str, str] | None,
        body: object = None,
    ) -> Answer:
        """One GET (POST with a JSON `body`), its answer read and unpacked piece by piece up to
        `MAX_BODY`."""
        request = self._http.build_request(
            "GET" if body is None else "POST",
            url,
            params=params,
            content=None if body is None else orjson.dumps(body),
            headers={
                **self._secret_headers,
                **(headers or {}),
                **({} if body is None else {"Content-Type": "application/json"}),
            },
            extensions={"trace": self._trace},
        )
        response = await self._http.send(request, stream=True)
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_BODY:
                raise too_large(MAX_BODY)
            body = BoundedBody(response.headers.get("Content-Encoding", ""), MAX_BODY)
            async for chunk in response.aiter_raw():
                body.feed(chunk)
            return Answer(response.status_code, response.headers, body.finish())
        finally:
            await response.aclose()

    async def _trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event.endswith("send_request_headers.started"):
            self._gate.sent()

    async def get_json(self, path_or_url: str, params: Params | None = None) -> Any:
        """GET an API URL and return its JSON.

        Raises:
            ApiError: an error status (after retries where they make sense), a body that is
                not JSON or is too large, with a reason.
        """
        answer = await self._send(self.url(path_or_url), params=params)
        body = answer.json(strict=answer.status < 300)  # an error's status says enough
        if answer.status >= 300 or body is None:
            raise api_error(answer.status, body, has_key=bool(self._config.api_key))
        return body

    async def post_json(self, path: str, body: object) -> Any:
        """POST a JSON body to an API path and return the JSON answer.

        Raises:
            ApiError: as `get_json`.
        """
        answer = await self._send(self.url(path), params=None, body=body)
        data = answer.json(strict=answer.status < 300)
        if answer.status >= 300 or data is None:
            raise api_error(answer.status, data, has_key=bool(self._config.api_key))
        return data

    async def paginate(self, path: str, params: Params) -> AsyncIterator[list[Json]]:
        """Yield each page's `items`, following `metadata.nextPage` until it is absent.

        A listing also ends when `STALE_PAGES` pages in a row bring no id not seen before (a
        server handing out fresh cursors over the same items would never end); a note says so.
        """
        url: str | None = self.url(path)
        page_params: Params | None = params
        seen: set[str] = set()
        seen_ids: set[object] = set()
        stale = 0
        while url:
            data = await self.get_json(url, page_params)
            items = data.get("items") if isinstance(data, dict) else None
            page = [item for item in items or [] if isinstance(item, dict)]
            yield page
            fresh = {item.get("id") for item in page if type(item.get("id")) is int} - seen_ids
            seen_ids |= fresh
            stale = 0 if fresh else stale + 1
            metadata = data.get("metadata") if isinstance(data, dict) else None
            next_page = metadata.get("nextPage") if isinstance(metadata, dict) else None
            if not isinstance(next_page, str) or not next_page or next_page in seen:
                return
            if stale >= STALE_PAGES:
                self._on_note(
                    f"stopped listing {path}: CivitAI sent {stale} pages in a row with no new "
                    "items (a looping cursor)"
                )
                return
            seen.add(next_page)
            url, page_params = self.url(next_page), None

    def _checked(self, page: list[Json], check: Callable[[object], Json]) -> list[Json]:
        """The page's records that pass `check`; each other one is reported as a drop."""
        kept: list[Json] = []
        for raw in page:
            try:
                kept.append(check(raw))
            except BadRecord as bad:
                self._on_drop(bad.reason)
        return kept

    def _check_model(self, raw: object) -> Json:
        return check_model(raw, self._on_drop)

    # -- endpoints --------------------------------------------------------------------------

    def _images_params(
        self, nsfw: str | None, **filters: str | int
    ) -> dict[str, str | int | Sequence[str]]:
        return {
            **filters,
            "limit": 200,
            "nsfw": _NSFW_IMAGES[nsfw or self._config.nsfw],
            "withMeta": "true",
            "flatMeta": "true",
            "sort": "Newest",
        }

    async def user_models(
        self, username: str, *, types: Sequence[str] = (), nsfw: str | None = None
    ) -> AsyncIterator[list[Json]]:
        """Pages of a creator's models (every published version, files, showcase image ids);
        `nsfw` overrides the configured level."""
        params: dict[str, str | int | Sequence[str]] = {
            "username": username,
            "limit": 100,
            "sort": "Newest",
        }
        if (nsfw or self._config.nsfw) != "none":
            params["nsfw"] = "true"
        if types:
            params["types"] = list(types)
        async for page in self.paginate("/api/v1/models", params):
            yield self._checked(page, self._check_model)

    async def model(self, model_id: int) -> Json:
        """One model with all its published versions (bad versions and files dropped).

        Raises:
            ApiError: the model cannot be fetched, or CivitAI sent an unusable record.
        """
        data = await self.get_json(f"/api/v1/models/{model_id}")
        try:
            return self._check_model(data)
        except BadRecord as bad:
            self._on_drop(bad.reason)
            raise ApiError(f"CivitAI sent an unusable model record ({bad.reason})") from None

    async def model_version(self, version_id: int) -> Json:
        """One model version (with its model's name and type)."""
        data = await self.get_json(f"/api/v1/model-versions/{version_id}")
        return data if isinstance(data, dict) else {}

    async def images(
        self, *, nsfw: str | None = None, **filters: str | int
    ) -> AsyncIterator[list[Json]]:
        """Pages of images with flat generation metadata, at the configured nsfw level (or
        `nsfw`: none, soft, mature, x)."""
        params = self._images_params(nsfw, **filters)
        async for page in self.paginate("/api/v1/images", params):
            yield self._checked(page, check_image)

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
        answer = await self._send(
            self.url("/api/trpc/post.get"),
            params={"input": payload},
            headers={"Referer": _TRPC_REFERER},
        )
        body = answer.json(strict=False)
        if answer.status >= 300 or not isinstance(body, dict):
            return None
        result = body.get("result", {}).get("data", {}).get("json")
        return result if isinstance(result, dict) else None

    async def resolve_download(self, download_url: str) -> str:
        """The presigned storage URL behind `/api/download/models/{v}` (redirect not followed).

        Raises:
            ApiError: login required, early access, deleted, archived, or an HTML page.
        """
        answer = await self._send(self.url(download_url), params=None, expect_json=False)
        status = answer.status
        if status in (301, 302, 303, 307, 308):
            location = answer.headers.get("Location", "")
            target = urlsplit(location)
            if not target.scheme or not target.netloc:
                raise ApiError("CivitAI redirected the download to a page: login may be required")
            if target.netloc == self._netloc:
                raise ApiError(
                    "CivitAI sent the download to its own site (login or early-access page)",
                    http_status=status,
                )
            return str(location)
        body = answer.json(strict=False)
        if status < 300:
            raise ApiError(
                "CivitAI sent a page instead of the file: login may be required (set an API key)",
                http_status=status,
            )
        raise api_error(status, body, has_key=bool(self._config.api_key))


_NSFW_IMAGES = {"none": "None", "soft": "Soft", "mature": "Mature", "x": "X"}
