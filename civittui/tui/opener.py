"""Open a CivitAI page or a folder with the desktop's own opener, never through a shell.

`xdg-open` on Linux and the BSDs, `open` on macOS, `os.startfile` on Windows. The environment
variable `CIVITTUI_OPENER` names another program to run instead (argv: the program, then the URL
or folder); tests point it at a script that records its arguments.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["OPENER_ENV", "OpenError", "civitai_url", "open_target", "opener_command"]

OPENER_ENV = "CIVITTUI_OPENER"
SITE = "https://civitai.com"


class OpenError(Exception):
    """The page or folder cannot be opened (the message says why, in one line)."""


def civitai_url(url: str) -> str:
    """`url` when it is an https page of civitai.com.

    Raises:
        OpenError: anything else (another host, another scheme, credentials in it).
    """
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.hostname not in ("civitai.com", "www.civitai.com"):
        raise OpenError(f"not a CivitAI page: {url}")
    if parts.username or parts.password or parts.port:
        raise OpenError(f"not a CivitAI page: {url}")
    return url


def opener_command(target: str) -> list[str] | None:
    """The argv that opens `target`, or None where `os.startfile` does it (Windows)."""
    custom = os.environ.get(OPENER_ENV, "").strip()
    if custom:
        return [*shlex.split(custom), target]
    if sys.platform == "win32":
        return None
    if sys.platform == "darwin":
        return ["open", target]
    return ["xdg-open", target]


def open_target(target: str | Path) -> list[str] | None:
    """Open a CivitAI URL (`str`) or an existing folder (`Path`); returns the argv it ran.

    Raises:
        OpenError: not a CivitAI URL, no such folder, or the opener cannot be started.
    """
    if isinstance(target, Path):
        if not target.is_dir():
            raise OpenError(f"no such folder: {target}")
        text = str(target)
    else:
        text = civitai_url(target)
    argv = opener_command(text)
    try:
        if argv is None:
            os.startfile(text)  # type: ignore[attr-defined]  # Windows only
            return None
        child = subprocess.Popen(  # noqa: S603 - an argument list, no shell; target checked
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise OpenError(f"cannot open {text}: {exc.strerror or exc}") from None
    # Reaped in the background: the opener may outlive a click (a browser started by it).
    threading.Thread(target=child.wait, name="opener", daemon=True).start()
    return argv
