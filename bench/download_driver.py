"""Fetch one URL with civittui's builtin downloader, as a whole process (for bench/download.py).

Run:  python -P bench/download_driver.py URL DEST SHA256 [default|SEGMENTS]

(`-P`: bench/queue.py must not shadow the standard library.) Prints one JSON line: the SHA256
the downloader verified and the process's peak RSS. The bench times this process from spawn
to exit, as it times curl and aria2c.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import anyio

from civittui.config import DownloadSettings
from civittui.download.base import DownloadRequest
from civittui.download.builtin import BuiltinDownloader


async def main(url: str, dest: Path, sha: str, segments: str) -> None:
    settings = (
        DownloadSettings() if segments == "default" else DownloadSettings(segments=int(segments))
    )
    async with BuiltinDownloader(settings) as downloader:
        request = DownloadRequest("file:bench", url, dest, "file", sha256=sha)
        result = await downloader.download(request, lambda done, total, note=None: None)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_bytes = rss if sys.platform == "darwin" else rss * 1024
    print(json.dumps({"sha256": result.sha256, "rss": rss_bytes}))


if __name__ == "__main__":
    url, dest, sha, *rest = sys.argv[1:]
    anyio.run(main, url, Path(dest), sha, rest[0] if rest else "default")
