"""Many small files: the builtin downloader against `aria2c -j4` and parallel curl, in one run.

Run:  python bench/small_files.py [--count N] [--size BYTES] [--jobs J] [--repeat R]

A creator's images are many small files, one request each. The fake CDN (in this process,
its own threads) serves `--count` objects of `--size` bytes (default 2000 x 64 KiB) as image
URLs; every tool fetches the same list, `--jobs` at a time (default 4), as a whole process
timed from spawn to exit: `aria2c -j4 -i LIST` (the reference), `curl --parallel
--parallel-max 4 -K CONFIG`, and civittui's builtin downloader through
`bench/download_driver.py --list` (kind "image", as the engine asks: one request, extension
picked on arrival; the driver's imports are counted, as each tool's start-up is). Ratios are
printed as whole processes and net of each tool's fixed cost (its time for a list of one
file). Files land in /dev/shm when it exists; the best of `--repeat` rounds is kept per
tool; the load is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.download import run_timed as timed  # noqa: E402
from tests.fakecivitai import FakeCivitai  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DRIVER = Path(__file__).resolve().parent / "download_driver.py"


def uptime() -> str:
    """The load averages (1, 5, 15 min)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def fresh(folder: Path) -> Path:
    """An empty folder (what a previous round left is removed)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def aria2c(urls: list[str], work: Path, jobs: int) -> float:
    listing = work / "aria.txt"
    listing.write_text("".join(f"{u}\n  out={i}.jpeg\n" for i, u in enumerate(urls)))
    folder = fresh(work / "aria")
    seconds, _ = timed(
        [
            "aria2c", "--no-conf", "-q", f"-j{jobs}", "--allow-overwrite=true",
            "--auto-file-renaming=false", "-d", str(folder), "-i", str(listing),
        ]
    )  # fmt: skip
    check(folder, len(urls))
    return seconds


def curl(urls: list[str], work: Path, jobs: int) -> float:
    folder = fresh(work / "curl")
    config = work / "curl.cfg"
    config.write_text(
        "".join(f'url = "{u}"\noutput = "{folder / f"{i}.jpeg"}"\n' for i, u in enumerate(urls))
    )
    seconds, _ = timed(
        ["curl", "-sS", "--fail", "--parallel", "--parallel-max", str(jobs), "-K", str(config)]
    )
    check(folder, len(urls))
    return seconds


def civittui(urls: list[str], work: Path, jobs: int) -> float:
    listing = work / "civittui.txt"
    listing.write_text("\n".join(urls) + "\n")
    folder = fresh(work / "civittui")
    seconds, out = timed(
        [sys.executable, "-P", str(DRIVER), "--list", str(listing), str(folder), str(jobs)]
    )
    if json.loads(out.strip().splitlines()[-1])["count"] != len(urls):
        raise SystemExit("civittui did not fetch every file")
    check(folder, len(urls))
    return seconds


def check(folder: Path, count: int) -> None:
    got = sum(1 for _ in folder.iterdir())
    if got != count:
        raise SystemExit(f"{folder.name}: {got} files of {count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    for tool in ("curl", "aria2c"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed for this benchmark")
    shm = Path("/dev/shm")
    root = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    tools = {"aria2c -j4": aria2c, "curl --parallel": curl, "civittui builtin": civittui}
    # An installed civittui starts from compiled bytecode; where PYTHONDONTWRITEBYTECODE is set
    # every start would compile the sources again and count that as start-up.
    compileall.compile_dir(ROOT / "civittui", quiet=1)
    print(f"load at start: {uptime()}")
    with (
        tempfile.TemporaryDirectory(prefix="civittui-small-", dir=root) as work_dir,
        FakeCivitai() as fake,
    ):
        work = Path(work_dir)
        payload = os.urandom(args.size)
        urls = []
        for i in range(args.count):
            fake.images.put_bytes(f"bench-{i}", payload[i % 97 :] + payload[: i % 97], "image/jpeg")
            urls.append(fake.images.image_url(f"bench-{i}", f"{i}.jpeg"))
        fixed = {
            name: min(run(urls[:1], work, 1) for _ in range(args.repeat))
            for name, run in tools.items()
        }
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            for name, run in tools.items():
                best[name] = min(best.get(name, 1e9), run(urls, work, args.jobs))
                fake.clear_requests()
    ref = best["aria2c -j4"]
    ref_net = max(ref - fixed["aria2c -j4"], 1e-3)
    print(
        f"{args.count} files of {args.size // 1024} KiB, {args.jobs} at a time, fake CDN on "
        "loopback; fixed cost (one file): "
        + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in fixed.items())
    )
    for name, seconds in best.items():
        net = max(seconds - fixed[name], 1e-3)
        print(
            f"  {name:18} {args.count / seconds:8.0f} files/s ({seconds:6.2f} s)  "
            f"x{ref / seconds:.2f} of aria2c whole process, x{ref_net / net:.2f} net of start-up"
        )
    print(f"load at end: {uptime()}")


if __name__ == "__main__":
    main()
