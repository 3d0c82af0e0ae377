#!/usr/bin/env python3
"""A stand-in for Internet Download Manager's `IDMan.exe`, for tests on any OS.

It takes IDM's command line exactly and behaves the way IDM is observed to:

    IDMan /d URL [/p DIR] [/f NAME] [/q] [/h] [/n] [/a]    queue (with /a) or queue and start
    IDMan /s                                                start the queue

- It returns at once. Every invocation's argv is appended as one JSON line to the file named by
  `$IDMAN_STANDIN_LOG` (before any validation, so tests see exactly what was run).
- Unknown switches, a missing value, or `/p /f /a /n /q /h` without `/d`: exit status 1.
- `/a` only queues (one JSON file per item in `$IDMAN_STANDIN_HOME/queue`, written atomically).
  `/d` without `/a` queues and starts, like IDM.
- `/s` spawns a detached background worker that downloads every queued item (urllib, no extra
  headers) into a temporary file under `$IDMAN_STANDIN_HOME/DwnlData`, then moves it to
  `DIR/NAME`: the final file appears only once complete.

`$IDMAN_STANDIN_MODE` changes the worker: `deliver` (default), `never` (queues are taken and
nothing is ever delivered), `inplace` (writes `DIR/NAME` directly while it downloads, so the
file is visible and growing). Outcomes are appended to `$IDMAN_STANDIN_HOME/events.jsonl`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

_VALUED = {"/d", "/p", "/f"}
_FLAGS = {"/q", "/h", "/n", "/a"}
_WORKER = "--standin-worker"


def _home() -> Path:
    home = os.environ.get("IDMAN_STANDIN_HOME")
    if home:
        return Path(home)
    log = os.environ.get("IDMAN_STANDIN_LOG")
    return Path(log).parent / "idman-home" if log else Path.cwd() / "idman-home"


def _append_jsonl(path: Path, record: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def _parse(args: list[str]) -> dict[str, str | bool] | None:
    """IDM's switches (case-insensitive, like Windows tools), or None when the line is bad."""
    parsed: dict[str, str | bool] = {}
    i = 0
    while i < len(args):
        switch = args[i].lower()
        if switch in _VALUED:
            if i + 1 >= len(args) or switch in parsed:
                return None
            parsed[switch] = args[i + 1]
            i += 2
        elif switch in _FLAGS or switch == "/s":
            parsed[switch] = True
            i += 1
        else:
            return None
    if "/d" in parsed:
        return None if "/s" in parsed else parsed
    return parsed if parsed == {"/s": True} else None  # /p /f /a /n /q /h need /d


def _queue(item: dict[str, str]) -> None:
    queue = _home() / "queue"
    queue.mkdir(parents=True, exist_ok=True)
    stem = f"{time.time_ns():020d}-{uuid.uuid4().hex}"
    tmp = queue / f"{stem}.tmp"
    tmp.write_text(json.dumps(item, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, queue / f"{stem}.json")


def _spawn_worker() -> None:
    # argv[0] is this script (or, on Windows, a launcher .exe holding it as a zip).
    command = [sys.executable, os.path.abspath(sys.argv[0]), _WORKER, str(_home())]
    quiet = subprocess.DEVNULL
    if sys.platform == "win32":
        flags = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
        subprocess.Popen(command, stdin=quiet, stdout=quiet, stderr=quiet, creationflags=flags)
    else:
        subprocess.Popen(command, stdin=quiet, stdout=quiet, stderr=quiet, start_new_session=True)


def _claim(home: Path) -> list[dict[str, str]]:
    """Take every queued item; an item another worker took first is skipped."""
    queue, claimed = home / "queue", home / "claimed"
    claimed.mkdir(parents=True, exist_ok=True)
    items = []
    for entry in sorted(queue.glob("*.json")) if queue.is_dir() else []:
        target = claimed / entry.name
        try:
            os.replace(entry, target)
        except OSError:
            continue
        items.append(json.loads(target.read_text(encoding="utf-8")))
    return items


def _fetch(home: Path, item: dict[str, str], mode: str) -> None:
    folder = Path(item["dir"])
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / item["name"]
    if mode == "inplace":
        part = final
    else:
        (home / "DwnlData").mkdir(parents=True, exist_ok=True)
        part = home / "DwnlData" / f"{uuid.uuid4().hex}.tmp"
    request = urllib.request.Request(item["url"], headers={"User-Agent": "IDMan-standin/1"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response, part.open("wb") as fh:
            while chunk := response.read(64 * 1024):
                fh.write(chunk)
                fh.flush()
    except OSError as exc:
        part.unlink(missing_ok=True)
        _append_jsonl(home / "events.jsonl", {"event": "failed", **item, "error": str(exc)})
        return
    if part != final:
        shutil.move(part, final)
    _append_jsonl(home / "events.jsonl", {"event": "delivered", **item})


def _work(home: Path) -> None:
    mode = os.environ.get("IDMAN_STANDIN_MODE", "deliver")
    items = _claim(home)
    if mode == "never":
        for item in items:
            _append_jsonl(home / "events.jsonl", {"event": "held", **item})
        return
    for item in items:
        _fetch(home, item, mode)


def main(argv: list[str]) -> int:
    """Entry point: the command line without the program name; returns the exit status."""
    if argv[:1] == [_WORKER]:
        _work(Path(argv[1]))
        return 0
    log = os.environ.get("IDMAN_STANDIN_LOG")
    if log:
        _append_jsonl(Path(log), argv)
    parsed = _parse(argv)
    if parsed is None:
        return 1
    if "/d" in parsed:
        url = str(parsed["/d"])
        folder = str(parsed.get("/p", Path.home() / "Downloads"))
        name = str(parsed.get("/f", url.split("?")[0].rsplit("/", 1)[-1] or "download"))
        _queue({"url": url, "dir": folder, "name": name})
        if "/a" in parsed:
            return 0
    _spawn_worker()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
