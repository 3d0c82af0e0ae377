"""A whole creator mirrored end to end at scale, first run and re-run; optionally vs aria2c -j4.

Run:  python bench/scale.py [--images 100000] [--models 20] [--min-interval 0.005] [--aria2]
                           [--dest DIR]

Generates a creator on the fake CivitAI (`--models` LoRAs with small files, `--images` images
in one post per version), then runs `python -m civittui get USER_URL` as a child process twice
(the second run finds everything done). For each run it prints wall time, API calls, image and
file requests, the child's peak RSS and the size of the state directory. `uptime` is printed
at the start and the end. The mirror goes to a temp folder in `--dest` (default: the system's
temp folder; /dev/shm makes every fsync free, which shows what the disk costs).

`--aria2` (issue 18 item 4, small files at the CDN's speed): `aria2c -j4` then fetches the same
image URLs civittui fetched, from a URL list, into a fresh directory; the ratio is aria2c's
time over civittui's first run (which also crawls, writes sidecars and keeps its state).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakecivitai import FakeCivitai  # noqa: E402
from tests.fakecivitai.data import make_big_creator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20


def load() -> str:
    """The load averages (1, 5, 15 min), as `uptime` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_child(argv: list[str]) -> tuple[float, int, int, float]:
    """Run a child to its end: (seconds, exit code, peak RSS in bytes, CPU seconds)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    rss = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    return seconds, child.returncode, rss, usage.ru_utime + usage.ru_stime


def mirror(fake: FakeCivitai, url: str, work: Path, min_interval: float, label: str) -> float:
    """One `civittui get` run; prints its figures and returns its seconds."""
    fake.clear_requests()
    argv = [
        sys.executable, "-P", "-m", "civittui", "get", url,
        "--config", str(work / "config.toml"),
        "--root", str(work / "mirror"),
        "--lora-dir", str(work / "Lora"),
        "--api-base", fake.api_base,
        "--api-key", fake.api_key,
        "--min-interval", str(min_interval),
        "-q",
    ]  # fmt: skip
    seconds, code, rss, cpu = run_child(argv)
    requests = fake.requests
    api = sum(1 for r in requests if r.server == "api")
    images = sum(1 for r in requests if r.server == "images")
    files = sum(1 for r in requests if r.server == "files")
    state = tree_size(work / "mirror" / ".civittui")
    print(
        f"  {label:8} exit {code}, {seconds:7.1f} s, {api} API calls, {images} image and "
        f"{files} file requests, peak RSS {rss / MiB:.0f} MiB, state {state / MiB:.1f} MiB, "
        f"CPU {cpu:.1f} s" + (f" ({cpu / images * 1000:.2f} ms an image)" if images else "")
    )
    api_at = [r.started for r in requests if r.server == "api"]
    image_at = [r.started for r in requests if r.server == "images"]
    if api_at and image_at:
        # The crawl is hidden when images flow from its first pages on and it ends early.
        t0 = min(api_at)
        print(
            f"           first image request {min(image_at) - t0:.1f} s after the first API "
            f"call, last API call at {max(api_at) - t0:.1f} s, last image at "
            f"{max(image_at) - t0:.1f} s"
        )
    return seconds


def aria2(urls: list[str], work: Path) -> float:
    listing = work / "urls.txt"
    # One output name per URL (the fake serves every image under its own uuid folder).
    listing.write_text(
        "".join(f"{u}\n  out={i}.bin\n" for i, u in enumerate(urls)), encoding="utf-8"
    )
    started = time.perf_counter()
    subprocess.run(
        [
            "aria2c", "--no-conf", "-q", "-j4", "--allow-overwrite=true",
            "--auto-file-renaming=false", "-d", str(work / "aria2"), "-i", str(listing),
        ],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--min-interval", type=float, default=0.005)
    parser.add_argument("--aria2", action="store_true", help="also aria2c -j4, same URLs")
    parser.add_argument("--dest", type=Path, default=None, help="where the mirror is written")
    args = parser.parse_args()
    print(f"load at start: {load()}")
    with (
        FakeCivitai() as fake,
        tempfile.TemporaryDirectory(prefix="civittui-scale-", dir=args.dest) as tmp,
    ):
        work = Path(tmp)
        (work / "config.toml").write_text("", "utf-8")
        started = time.perf_counter()
        creator = make_big_creator(fake.world, models=args.models, versions=1, images=args.images)
        print(
            f"world: {args.models} models, {args.images} images "
            f"(generated in {time.perf_counter() - started:.1f} s)"
        )
        url = f"{fake.api_base}/user/{creator.username}"
        first = mirror(fake, url, work, args.min_interval, "first")
        image_urls = [
            f"{fake.images.base_url}{r.path}" for r in fake.requests if r.server == "images"
        ]
        mirror(fake, url, work, args.min_interval, "re-run")
        if args.aria2:
            seconds = aria2(image_urls, work)
            print(
                f"  aria2c -j4, the same {len(image_urls)} image URLs: {seconds:.1f} s; "
                f"civittui first run x{seconds / first:.2f} aria2c"
            )
    print(f"load at end: {load()}")


if __name__ == "__main__":
    main()
