"""Fetch URLs with civittui's builtin downloader, as a whole process (for bench/download.py and
bench/small_files.py).

Run:  python -P bench/download_driver.py URL DEST SHA256 [default|SEGMENTS]
      python -P bench/download_driver.py --list FILE DIR JOBS

(`-P`: bench/queue.py must not shadow the standard library.) The first form fetches one model
file and prints one JSON line: the SHA256 the downloader verified and the process's peak RSS.
The second fetches every URL of FILE (one a line) as an image (as the engine asks for one: one
request, the extension picked on arrival) into DIR as `<line number>.<ext>`, JOBS at a time,
with the default settings, and prints the count and the peak RSS. The benches time this
process from spawn to exit, as they time curl and aria2c.
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


def _peak_rss() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


async def main(url: str, dest: Path, sha: str, segments: str) -> None:
    settings = (
        DownloadSettings() if segments == "default" else DownloadSettings(segments=int(segments))
    )
    async with BuiltinDownloader(settings) as downloader:
        request = DownloadRequest("file:bench", url, dest, "file", sha256=sha)
        result = await downloader.download(request, lambda done, total, note=None: None)
    print(json.dumps({"sha256": result.sha256, "rss": _peak_rss()}))


async def many(listing: Path, folder: Path, jobs: int) -> None:
    urls = listing.read_text().split()
    todo = iter(enumerate(urls))
    done = 0

    async def worker(downloader: BuiltinDownloader) -> None:
        nonlocal done
        for number, url in todo:
            request = DownloadRequest(
                f"image:{number}", url, folder / f"{number}.jpeg", "image", pick_extension=True
            )
            await downloader.download(request, lambda done, total, note=None: None)
            done += 1

    async with BuiltinDownloader(DownloadSettings()) as downloader, anyio.create_task_group() as tg:
        for _ in range(jobs):
            tg.start_soon(worker, downloader)
    print(json.dumps({"count": done, "rss": _peak_rss()}))


if __name__ == "__main__":
    if sys.argv[1] == "--list":
        listing, folder, jobs = sys.argv[2:5]
        anyio.run(many, Path(listing), Path(folder), int(jobs))
    else:
        url, dest, sha, *rest = sys.argv[1:]
        anyio.run(main, url, Path(dest), sha, rest[0] if rest else "default")
