"""aria2 as the download engine, over its JSON-RPC interface (local or on another machine).

Each file is one `aria2.addUri` with `dir`, `out`, `checksum=sha-256=…` (when the API gave a
hash; aria2 then verifies the bytes itself), `continue` (aria2 resumes from its `NAME.aria2`
control file) and a few connections per server. `aria2.tellStatus` is polled for real byte
counts; the finished or failed result is always removed from aria2's list afterwards, and a
cancelled item is `aria2.forceRemove`d. Only the JSON-RPC call carries the secret
(`token:…`, as the first parameter); no header of ours, and never the CivitAI key, reaches
aria2 or the CDN: aria2 gets the presigned URL the engine resolved.

While aria2 works, the partial file sits under its final name next to `NAME.aria2`; it is
verified (size, SHA256) once aria2 says `complete`, and a file that does not verify is deleted.

Paths when aria2 runs on another machine (`aria2_url` pointing at a NAS, say):

- `root` (`local_root` here) is where files land as this machine sees them; `aria2_root`
  (`remote_root`) is the same folder as the aria2 machine sees it. A file bound for
  `{root}/{relative path}` is sent to aria2 as `dir = {aria2_root}/{relative folder}` and
  `out = {file name}`, with the separator `aria2_root` uses (`\\` for `D:\\CivitAI`).
  Example: root `/mnt/nas/CivitAI`, aria2_root `/volume1/CivitAI`: the file
  `/mnt/nas/CivitAI/alice/lora/x.safetensors` goes to aria2 as `dir=/volume1/CivitAI/alice/lora`,
  `out=x.safetensors`.
- When the file is visible here (root is a mount of aria2_root), it is verified here as well.
  When it is not, aria2's own checksum check is what verified it (and without a known hash the
  result's `sha256` is empty).
- With `aria2_root` empty, aria2 sees the same paths as this machine.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any

import anyio
import httpx

from civittui import USER_AGENT
from civittui.download.base import Downloader, DownloadRequest, DownloadResult, Progress
from civittui.download.verify import verify_delivered
from civittui.errors import DownloadError, EngineSetupError

__all__ = ["Aria2Downloader", "aria2_placement"]

CHECKSUM_MISMATCH = "32"
"""aria2's errorCode for a failed `checksum` verification."""
_NOT_FOUND = "3"
_STATUS_KEYS = ["status", "totalLength", "completedLength", "errorCode", "errorMessage"]
_MAX_URL_REFRESHES = 2
_HTTP_STATUS = re.compile(r"status=(\d{3})")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+")


class _Unreachable(Exception):
    """The RPC endpoint did not answer with JSON-RPC."""


class _RpcError(Exception):
    """aria2 answered a call with a JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def aria2_placement(dest: Path, local_root: Path, remote_root: str = "") -> tuple[str, str]:
    """The `dir` and `out` options that make aria2 write `dest`.

    Args:
        dest: the final path as this machine sees it.
        local_root: `root` as this machine sees it.
        remote_root: `root` as the aria2 machine sees it; empty when it sees the same paths.

    Returns:
        `(dir, out)` in the aria2 machine's terms.

    Raises:
        DownloadError: `remote_root` is set and `dest` is not under `local_root`.
    """
    if not remote_root:
        return str(dest.parent), dest.name
    try:
        relative = Path(os.path.abspath(dest.parent)).relative_to(os.path.abspath(local_root))
    except ValueError:
        raise DownloadError(
            f"{dest} is outside {local_root}: aria2_root maps only paths under root"
        ) from None
    sep = "\\" if "\\" in remote_root and "/" not in remote_root else "/"
    base = remote_root.rstrip("/\\")
    if not relative.parts:
        return base or remote_root, dest.name
    return base + sep + sep.join(relative.parts), dest.name


def _scrub(message: str) -> str:
    """aria2's messages may quote the (self-authorising) URL: keep it out of failure reasons."""
    return _URL.sub("<url>", message).strip()


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc).strip()
    return _scrub(text) if text else type(exc).__name__


class Aria2Downloader(Downloader):
    """Sends files to an aria2 daemon over JSON-RPC and follows them to completion.

    Args:
        rpc_url: `aria2_url`, e.g. `http://127.0.0.1:6800/jsonrpc`.
        secret: `aria2_secret` (aria2's `--rpc-secret`); empty when aria2 has none.
        local_root: `root` as this machine sees it.
        remote_root: `aria2_root`, `root` as the aria2 machine sees it (empty: the same).
        poll_interval: seconds between `tellStatus` calls per file.
        user_agent: the User-Agent aria2 sends to the CDN (and this client to aria2).
        connections: connections per server for one file (aria2's `split`).
    """

    name = "aria2"

    def __init__(
        self,
        *,
        rpc_url: str,
        secret: str,
        local_root: Path,
        remote_root: str = "",
        poll_interval: float = 0.5,
        user_agent: str = USER_AGENT,
        connections: int = 4,
    ) -> None:
        self._url = rpc_url
        self._secret = secret
        self._local_root = local_root
        self._remote_root = remote_root
        self._poll_interval = poll_interval
        self._user_agent = user_agent
        self._connections = max(1, min(connections, 16))  # aria2 caps per-server at 16
        self._ids = itertools.count(1)
        self._checked = False
        # Its own client: no CivitAI header or cookie can leak here; no proxy from the
        # environment for what is usually a loopback or LAN daemon.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, connect=5.0),
            trust_env=False,
            headers={"User-Agent": user_agent},
        )

    async def aclose(self) -> None:
        """Close the RPC connection."""
        await self._client.aclose()

    async def _call(self, method: str, *params: Any) -> Any:
        token = [f"token:{self._secret}"] if self._secret else []
        body = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": token + list(params),
        }
        try:
            response = await self._client.post(self._url, json=body)
        except httpx.HTTPError as exc:
            raise _Unreachable(_describe(exc)) from None
        try:
            data = response.json()
        except ValueError:
            raise _Unreachable(f"HTTP {response.status_code} without a JSON-RPC answer") from None
        if not isinstance(data, dict):
            raise _Unreachable("not a JSON-RPC answer")
        error = data.get("error")
        if isinstance(error, dict):
            raise _RpcError(int(error.get("code", 0)), str(error.get("message", "")))
        return data.get("result")

    def _setup_error(self, exc: _Unreachable | _RpcError) -> EngineSetupError:
        if isinstance(exc, _RpcError):
            if exc.message == "Unauthorized":
                return EngineSetupError("aria2 RPC rejected the secret (aria2_secret)")
            return EngineSetupError(f"aria2 RPC at {self._url} answered: {_scrub(exc.message)}")
        return EngineSetupError(f"aria2 RPC at {self._url} is not reachable: {exc}")

    async def check(self) -> None:
        """Call `aria2.getVersion` with the secret.

        Raises:
            EngineSetupError: not an http(s) URL, aria2 not reachable, or the secret rejected.
        """
        if not re.match(r"^https?://", self._url):
            raise EngineSetupError(f"aria2_url must be an http(s) URL such as {_EXAMPLE_URL}")
        try:
            await self._call("aria2.getVersion")
        except (_Unreachable, _RpcError) as exc:
            raise self._setup_error(exc) from None
        self._checked = True

    async def download(self, request: DownloadRequest, progress: Progress) -> DownloadResult:
        """Have aria2 fetch `request`, follow it, verify the result.

        Args:
            request: the file; `url` must need no credentials (a presigned URL).
            progress: gets aria2's completed/total bytes on every poll.

        Returns:
            The verified file.

        Raises:
            EngineSetupError: aria2 unreachable or the secret rejected (first use).
            DownloadError: aria2 reported an error (its message and errorCode), the RPC went
                away, or the file did not verify.
        """
        if request.pick_extension:
            raise DownloadError(
                "aria2 cannot name a file by its Content-Type; images use the builtin downloader"
            )
        if not self._checked:
            await self.check()
        folder, out = aria2_placement(request.dest, self._local_root, self._remote_root)
        options = {
            "dir": folder,
            "out": out,
            "allow-overwrite": "true",
            "auto-file-renaming": "false",
            "continue": "true",
            "max-connection-per-server": str(self._connections),
            "split": str(self._connections),
            # aria2's default 20M leaves a 64 MiB file on 3 connections, then 1 as pieces end.
            "min-split-size": "4M",
            "user-agent": self._user_agent,
        }
        if request.sha256:
            options["checksum"] = f"sha-256={request.sha256.lower()}"
        url = request.url
        refreshes = 0
        while True:
            try:
                total = await self._transfer(url, options, request, progress)
                break
            except _Expired:
                if request.refresh_url is None or refreshes >= _MAX_URL_REFRESHES:
                    raise DownloadError(
                        "the CDN refused the download link (HTTP 403)", http_status=403
                    ) from None
                refreshes += 1
                url = await request.refresh_url()
        return await self._verify(request, total)

    async def _transfer(
        self, url: str, options: dict[str, str], request: DownloadRequest, progress: Progress
    ) -> int:
        """One addUri followed to its end; returns the byte count aria2 reported."""
        try:
            gid = str(await self._call("aria2.addUri", [url], options))
        except _RpcError as exc:
            if exc.message == "Unauthorized":
                raise self._setup_error(exc) from None
            raise DownloadError(f"aria2 refused the download: {_scrub(exc.message)}") from None
        except _Unreachable as exc:
            raise DownloadError(f"aria2 RPC at {self._url} is not reachable: {exc}") from None
        finished = False
        try:
            total = await self._follow(gid, request, progress)
            finished = True
            return total
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self._discard(gid, stop=not finished)

    async def _follow(self, gid: str, request: DownloadRequest, progress: Progress) -> int:
        name = request.dest.name
        while True:
            try:
                status = await self._call("aria2.tellStatus", gid, _STATUS_KEYS)
            except (_Unreachable, _RpcError) as exc:
                raise DownloadError(f"lost track of {name} in aria2: {exc}") from None
            state = status.get("status")
            done = int(status.get("completedLength") or 0)
            total = int(status.get("totalLength") or 0) or request.expected_size
            if state == "complete":
                progress(done, total)
                return done
            if state == "error":
                failure = _failure(status)
                if isinstance(failure, _ChecksumMismatch):
                    await self._remove_local(request.dest)
                raise failure
            if state == "removed":
                raise DownloadError(f"{name} was removed from aria2's queue")
            note = {"waiting": "queued in aria2", "paused": "paused in aria2"}.get(str(state))
            progress(done, total, note)
            await anyio.sleep(self._poll_interval)

    async def _discard(self, gid: str, *, stop: bool) -> None:
        """Stop (when asked) and forget `gid`; errors are ignored (it may be gone already)."""
        try:
            if stop:
                await self._call("aria2.forceRemove", gid)
        except _RpcError:
            pass  # it ended meanwhile
        except _Unreachable:
            return
        # A stopped download reaches aria2's result list a moment after its status changes
        # (and after forceRemove returns): retry for up to ~2 s.
        for _ in range(40):
            try:
                await self._call("aria2.removeDownloadResult", gid)
                return
            except _RpcError:
                await anyio.sleep(0.05)
            except _Unreachable:
                return

    async def _remove_local(self, dest: Path) -> None:
        """Delete a file that failed aria2's check (and its control file), when visible here."""
        if not self._remote_root or await anyio.Path(dest).exists():
            for path in (dest, dest.with_name(dest.name + ".aria2")):
                await anyio.Path(path).unlink(missing_ok=True)

    async def _verify(self, request: DownloadRequest, aria2_size: int) -> DownloadResult:
        dest = request.dest
        if await anyio.Path(dest).is_file():
            found = await verify_delivered(
                dest,
                expected_sha256=request.sha256,
                expected_size=request.expected_size,
                check_safetensors=request.check_safetensors,
            )
            return DownloadResult(path=dest, size=found.size, sha256=found.sha256)
        if not self._remote_root:
            raise DownloadError(f"aria2 reported {dest.name} complete, but it is not at {dest}")
        # Only on the aria2 machine: aria2 verified the checksum when there was one.
        return DownloadResult(path=dest, size=aria2_size, sha256=(request.sha256 or "").lower())


_EXAMPLE_URL = "http://127.0.0.1:6800/jsonrpc"


class _ChecksumMismatch(DownloadError):
    """aria2's own SHA256 check failed."""


class _Expired(Exception):
    """The CDN answered 403: the presigned URL expired or was revoked."""


def _failure(status: dict[str, Any]) -> Exception:
    """An aria2 `error` status as the exception to raise."""
    code = str(status.get("errorCode") or "")
    message = _scrub(str(status.get("errorMessage") or "")) or "no message"
    if code == CHECKSUM_MISMATCH:
        return _ChecksumMismatch("SHA256 mismatch (aria2 verified)")
    http = _HTTP_STATUS.search(message)
    http_status = int(http.group(1)) if http else (404 if code == _NOT_FOUND else None)
    if http_status == 403:
        return _Expired()
    return DownloadError(f"aria2: {message} (errorCode {code})", http_status=http_status)
