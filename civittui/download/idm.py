"""Internet Download Manager as the download engine (Windows).

Each file is queued with `IDMan.exe /d URL /p DIR /f NAME /n /a`; files queued within
`batch_window` seconds of each other share one `IDMan.exe /s` that starts IDM's queue. IDMan.exe
returns at once and reports nothing, so completion is watched on disk (`watch.py`): the file
appears under its final name with the announced size and stops changing; then its SHA256 is
verified, and a file that does not verify is deleted.

- IDM is given the presigned CDN URL the engine resolved: no API key reaches IDM or its history.
- Arguments go to the process as a list (never through a shell), so spaces and Unicode in the
  folder and `&` in the URL arrive intact (Windows quoting by `subprocess.list2cmdline`).
- Images are not fetched by IDM: their extension comes from the response's Content-Type, which
  IDM does not report. The engine routes images to the builtin downloader; a request with
  `pick_extension` is refused here.
- IDM cannot cancel or remove a job from its command line: a cancelled item stays in IDM's list.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import anyio

from civittui.download.base import Downloader, DownloadRequest, DownloadResult, Progress
from civittui.download.verify import verify_delivered
from civittui.download.watch import DeliveryRule, wait_for_delivery
from civittui.errors import CivittuiError, DownloadError, EngineSetupError

__all__ = ["IdmDownloader", "enqueue_args", "format_duration", "locate_idm"]

START_ARGS: tuple[str, ...] = ("/s",)
"""Start IDM's main queue."""

NOT_WINDOWS = (
    "IDM runs only on Windows: set idm_path to an IDM-compatible executable "
    "or choose another downloader"
)
_COMMAND_TIMEOUT = 60.0  # IDMan.exe hands the link to the running IDM and returns in < 1 s
_REGISTRY_KEYS = (  # (hive name, key, value); HKCU ExePath is the one IDM itself writes
    ("HKEY_CURRENT_USER", r"Software\DownloadManager", "ExePath"),
    ("HKEY_LOCAL_MACHINE", r"SOFTWARE\WOW6432Node\Internet Download Manager", "Path"),
    ("HKEY_LOCAL_MACHINE", r"SOFTWARE\Internet Download Manager", "Path"),
)


def _from_registry() -> list[Path]:
    """IDMan.exe locations IDM's installer recorded in the registry (Windows only)."""
    if sys.platform != "win32":
        return []
    import winreg  # exists only on Windows

    found: list[Path] = []
    for hive, key, value in _REGISTRY_KEYS:
        try:
            with winreg.OpenKey(getattr(winreg, hive), key) as handle:
                data, _kind = winreg.QueryValueEx(handle, value)
        except OSError:
            continue
        path = Path(str(data))
        found.append(path if path.suffix.lower() == ".exe" else path / "IDMan.exe")
    return found


def _default_installs() -> list[Path]:
    roots = [os.environ.get(v) for v in ("ProgramFiles(x86)", "ProgramFiles", "ProgramW6432")]
    roots += [r"C:\Program Files (x86)", r"C:\Program Files"]
    return [Path(r) / "Internet Download Manager" / "IDMan.exe" for r in roots if r]


def locate_idm(configured: str) -> Path:
    """Find the IDM executable.

    Order: `configured` (`idm_path`: a file, or a command name on PATH); on Windows then the
    registry (`HKCU\\Software\\DownloadManager\\ExePath`, then IDM's HKLM keys) and the default
    install folders under Program Files (x86) / Program Files.

    Args:
        configured: the `idm_path` setting (may be empty).

    Returns:
        The path of an existing executable file.

    Raises:
        EngineSetupError: nothing found (on a non-Windows host: IDM runs only on Windows).
    """
    candidates: list[Path] = []
    if configured.strip():
        path = Path(configured.strip()).expanduser()
        candidates.append(path)
        if path.parent == Path():  # a bare command name such as "IDMan"
            on_path = shutil.which(str(path))
            if on_path:
                candidates.append(Path(on_path))
    if sys.platform == "win32":
        candidates += _from_registry()
        candidates += _default_installs()
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if sys.platform != "win32":
        raise EngineSetupError(NOT_WINDOWS)
    where = f"idm_path {configured!r}, the registry or Program Files"
    raise EngineSetupError(f"IDMan.exe not found ({where}): install IDM or set idm_path")


def enqueue_args(url: str, folder: Path, name: str) -> list[str]:
    """IDM's switches that queue one file without starting it and without any dialog."""
    return ["/d", url, "/p", str(folder), "/f", name, "/n", "/a"]


def format_duration(seconds: float) -> str:
    """`7200` -> `2 h`, `90` -> `1 min 30 s`, `0.5` -> `0.5 s` (for failure reasons)."""
    if seconds < 60:
        return f"{seconds:g} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs else "")
    return " ".join(p for p in parts if p)


class _Batch:
    """Files queued before one `/s`."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.error: CivittuiError | None = None


class IdmDownloader(Downloader):
    """Hands files to Internet Download Manager and watches them arrive.

    Args:
        idm_path: the `idm_path` setting (see `locate_idm`).
        timeout: seconds one file may take from queueing to delivery (`idm_timeout`).
        poll_interval: seconds between looks at the target file.
        batch_window: files queued within this many seconds share one `/s`.
        settle: seconds a wrong-sized file may sit unchanged before it is a failure.
    """

    name = "idm"

    def __init__(
        self,
        *,
        idm_path: str,
        timeout: float,
        poll_interval: float = 1.0,
        batch_window: float = 0.5,
        settle: float = 30.0,
    ) -> None:
        self._idm_path = idm_path
        self._timeout = timeout
        self._poll_interval = poll_interval
        self._batch_window = batch_window
        self._settle = settle
        self._exe: Path | None = None
        self._lock = anyio.Lock()
        self._open_batch: _Batch | None = None

    @property
    def executable(self) -> Path:
        """The IDM executable in use.

        Raises:
            EngineSetupError: IDM cannot be found.
        """
        if self._exe is None:
            self._exe = locate_idm(self._idm_path)
        return self._exe

    async def check(self) -> None:
        """Make sure IDM can be used (the executable exists).

        Raises:
            EngineSetupError: IDM cannot be found.
        """
        _ = self.executable

    async def _run(self, args: list[str] | tuple[str, ...]) -> None:
        """Run IDMan.exe with `args` as a list (no shell) and wait for it to return."""
        command = [str(self.executable), *args]
        try:
            with anyio.fail_after(_COMMAND_TIMEOUT):
                # No pipes: a first call may start IDM itself, which would inherit them and
                # keep them open for as long as IDM runs.
                done = await anyio.run_process(
                    command,
                    check=False,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
        except TimeoutError:
            raise DownloadError(
                f"IDM did not return within {format_duration(_COMMAND_TIMEOUT)}"
            ) from None
        except OSError as exc:
            raise EngineSetupError(
                f"cannot run IDM at {self.executable}: {exc.strerror or exc}"
            ) from None
        if done.returncode != 0:
            raise DownloadError(
                f"IDM refused the command {args[0]} (exit status {done.returncode})"
            )

    async def _queue_and_start(self, args: list[str]) -> None:
        """Queue one file, then make sure a `/s` follows it (shared by one batch)."""
        async with self._lock:
            await self._run(args)
            batch = self._open_batch
            leader = batch is None
            if batch is None:
                batch = self._open_batch = _Batch()
        if leader:
            # Shielded: the others in this batch wait for this `/s` even if this item is
            # cancelled meanwhile (the wait is `batch_window` plus one quick command).
            with anyio.CancelScope(shield=True):
                await anyio.sleep(self._batch_window)
                async with self._lock:
                    self._open_batch = None
                    try:
                        await self._run(START_ARGS)
                    except CivittuiError as exc:
                        batch.error = exc
                    finally:
                        batch.started.set()
        else:
            await batch.started.wait()
        if batch.error is not None:
            raise type(batch.error)(str(batch.error))

    async def _clear_target(self, request: DownloadRequest) -> DownloadResult | None:
        """Reuse a verified file already at `dest`; remove anything else there.

        A leftover would be mistaken for IDM's delivery (or make IDM rename the new file).
        """
        dest = request.dest
        if not await anyio.Path(dest).exists():
            return None
        if request.sha256:
            try:
                found = await verify_delivered(
                    dest,
                    expected_sha256=request.sha256,
                    expected_size=request.expected_size,
                )
            except DownloadError:
                return None  # verify_delivered removed it
            return DownloadResult(path=dest, size=found.size, sha256=found.sha256)
        await anyio.Path(dest).unlink(missing_ok=True)
        return None

    async def download(self, request: DownloadRequest, progress: Progress) -> DownloadResult:
        """Queue `request` in IDM, wait for the file, verify it.

        Args:
            request: the file; `url` must need no credentials (a presigned URL).
            progress: gets the size of the file once visible, else a "queued in IDM" note.

        Returns:
            The verified file.

        Raises:
            EngineSetupError: IDM cannot be found or started.
            DownloadError: refused request, no delivery within the timeout, wrong size or hash.
        """
        if request.pick_extension:
            raise DownloadError(
                "IDM cannot name a file by its Content-Type; images use the builtin downloader"
            )
        _ = self.executable
        dest = request.dest
        name = dest.name
        total = request.expected_size
        reused = await self._clear_target(request)
        if reused is not None:
            progress(reused.size, reused.size)
            return reused
        await anyio.Path(dest.parent).mkdir(parents=True, exist_ok=True)

        def on_poll(size: int | None) -> None:
            if size is None:
                progress(0, total, "queued in IDM")
            else:
                progress(size, total)

        rule = DeliveryRule(
            expected_size=total, poll_interval=self._poll_interval, settle=self._settle
        )
        progress(0, total, "queued in IDM")
        try:
            with anyio.fail_after(self._timeout):
                folder = Path(os.path.abspath(dest.parent))  # IDM resolves relative paths elsewhere
                await self._queue_and_start(enqueue_args(request.url, folder, name))
                await wait_for_delivery(dest, rule, on_poll)
        except TimeoutError:
            raise DownloadError(
                f"IDM did not deliver {name} within {format_duration(self._timeout)}"
            ) from None
        except DownloadError:
            await anyio.Path(dest).unlink(missing_ok=True)
            raise
        found = await verify_delivered(
            dest,
            expected_sha256=request.sha256,
            expected_size=total,
            check_safetensors=request.check_safetensors,
        )
        progress(found.size, found.size)
        return DownloadResult(path=dest, size=found.size, sha256=found.sha256)
