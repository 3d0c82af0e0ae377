"""`CivitaiClient` on `httpx.MockTransport`: which answers are retried, a Cloudflare page, no
redirect followed, and the tRPC fallback for a post's fields.

The shapes come from CivitAI: a Cloudflare challenge is a 403 HTML page; `/api/v1/posts/{id}` is
not deployed (404), so a post's title and version come from tRPC `post.get`, which answers
`{"result": {"data": {"json": {...}}}}` (civitai-api.md section 7.3).
"""

from __future__ import annotations

import json
import json as _json
from collections.abc import Callable

import httpx
import pytest

from civittui.civitai.client import CivitaiClient
from civittui.civitai.gate import ApiGate
from civittui.config import Config, RateSettings
from civittui.errors import ApiError

Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, *, retries: int = 2) -> tuple[CivitaiClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    rate = RateSettings(min_interval=0, max_backoff=0, retries=retries)
    config = Config(api_base="https://civitai.com", api_key="k3y-secret", rate=rate)
    client = CivitaiClient(config, ApiGate(rate), transport=httpx.MockTransport(record))
    return client, seen


Reply = Callable[[], httpx.Response]


class _Body(httpx.AsyncByteStream):
    """A body the client reads as a stream, as it reads a real server's."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self):  # type: ignore[override]
        yield self._data


def reply(
    status: int,
    *,
    json: object = None,
    text: str = "",
    headers: dict[str, str] | None = None,
) -> Reply:
    """A fresh streamed response each time (a response's body can be read once)."""
    head = dict(headers or {})
    data = text.encode()
    if json is not None:
        data = _json.dumps(json).encode()
        head.setdefault("Content-Type", "application/json")
    return lambda: httpx.Response(status, headers=head, stream=_Body(data))


def answers(*replies: Reply) -> Handler:
    """Answer with each reply in turn, the last one from then on."""
    queue = list(replies)
    return lambda request: (queue.pop(0) if len(queue) > 1 else queue[0])()


OK = reply(200, json={"items": [], "metadata": {}})


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 520, 524])
async def test_a_retryable_status_is_retried(status: int) -> None:
    client, seen = make_client(answers(reply(status), reply(status), OK))
    assert await client.get_json("/api/v1/images") == {"items": [], "metadata": {}}
    assert len(seen) == 3
    await client.aclose()


@pytest.mark.parametrize("status", [400, 401, 404, 410])
async def test_a_final_status_is_not_retried(status: int) -> None:
    client, seen = make_client(answers(reply(status, json={"error": "no"}), OK))
    with pytest.raises(ApiError) as caught:
        await client.get_json("/api/v1/models/5")
    assert caught.value.http_status == status
    assert len(seen) == 1
    await client.aclose()


async def test_a_server_still_failing_after_the_retries_is_one_error() -> None:
    client, seen = make_client(answers(reply(503)), retries=2)
    with pytest.raises(ApiError, match=r"kept failing \(503\) after 2 retries"):
        await client.get_json("/api/v1/images")
    assert len(seen) == 3
    await client.aclose()


async def test_network_errors_are_retried() -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("reset", request=request)
        return OK()

    client, _ = make_client(flaky)
    assert await client.get_json("/api/v1/images") == {"items": [], "metadata": {}}
    assert calls == 2
    await client.aclose()


async def test_a_success_that_is_not_json_is_retried() -> None:
    page = reply(200, text="<html>maintenance</html>", headers={"Content-Type": "text/html"})
    client, seen = make_client(answers(page, OK))
    assert await client.get_json("/api/v1/images") == {"items": [], "metadata": {}}
    assert len(seen) == 2
    await client.aclose()


async def test_a_cloudflare_403_page_is_retried_but_civitais_403_is_not() -> None:
    challenge = reply(
        403,
        text="<!DOCTYPE html><html><title>Just a moment...</title></html>",
        headers={"Content-Type": "text/html; charset=UTF-8", "Server": "cloudflare"},
    )
    client, seen = make_client(answers(challenge, OK))
    assert await client.get_json("/api/v1/images") == {"items": [], "metadata": {}}
    assert len(seen) == 2
    await client.aclose()

    refused = reply(403, json={"error": "You do not have access"})
    client, seen = make_client(answers(refused, OK))
    with pytest.raises(ApiError) as caught:
        await client.get_json("/api/v1/images")
    assert caught.value.http_status == 403 and len(seen) == 1
    await client.aclose()


async def test_a_download_redirect_is_read_never_followed() -> None:
    storage = "https://b2.civitai.com/file/model.safetensors?X-Amz-Signature=abc"
    client, seen = make_client(answers(reply(307, headers={"Location": storage})))
    assert await client.resolve_download("/api/download/models/7") == storage
    # one request, to the API host only: the key never travels to the storage host
    assert [r.url.host for r in seen] == ["civitai.com"]
    assert seen[0].headers["Authorization"] == "Bearer k3y-secret"
    await client.aclose()


async def test_a_redirect_to_civitais_own_site_is_a_login_page() -> None:
    login = reply(302, headers={"Location": "https://civitai.com/login?returnUrl=x"})
    client, seen = make_client(answers(login))
    with pytest.raises(ApiError, match="its own site"):
        await client.resolve_download("/api/download/models/7")
    relative = reply(302, headers={"Location": "/login"})
    client, seen = make_client(answers(relative))
    with pytest.raises(ApiError, match="redirected the download to a page"):
        await client.resolve_download("/api/download/models/7")
    assert len(seen) == 1
    await client.aclose()


async def test_post_fields_fall_back_to_trpc_once_rest_is_missing() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v1/posts/"):
            return reply(404, json={"error": "Not Found"})()
        assert request.url.path == "/api/trpc/post.get"
        assert request.headers["Referer"] == "https://civitai.com/"
        post_id = json.loads(request.url.params["input"])["json"]["id"]
        if post_id == 9:
            return reply(404, json={"error": {"json": {"message": "No post"}}})()
        post = {"id": post_id, "title": f"post {post_id}", "modelVersionId": 77}
        return reply(200, json={"result": {"data": {"json": post}}})()

    client, seen = make_client(server)
    assert await client.post(5) == {"id": 5, "title": "post 5", "modelVersionId": 77}
    assert await client.post(6) == {"id": 6, "title": "post 6", "modelVersionId": 77}
    assert await client.post(9) is None
    # REST asked once; from then on tRPC only
    assert [r.url.path for r in seen] == [
        "/api/v1/posts/5",
        "/api/trpc/post.get",
        "/api/trpc/post.get",
        "/api/trpc/post.get",
    ]
    await client.aclose()
