"""The builtin downloader against curl and aria2c on the fake CDN (loopback), in one run.

Run:  python bench/download.py [--quick] [--dest DIR] [--repeat N]

(a) unthrottled: one 1 GiB object (`--quick`: 256 MiB) served from a temp file with sendfile;
    `curl` to /dev/null and to a file, then civittui's builtin downloader with the default
    settings (4 ranges, SHA256 on) and with one stream; ratios to curl-to-a-file and to
    `curl -o file` followed by `openssl dgst -sha256 file` (the same work with public tools).
    Also the two ways of hashing a segmented file: one read-back after assembly (the default)
    vs hashing the contiguous prefix in a thread while ranges still arrive.
(b) throttled: the CDN caps every connection at 8 MiB/s; one 64 MiB object (`--quick`: 32 MiB)
    through `curl` (one connection), `aria2c -x4 -s4 -k1M` (as many connections as the default
    `segments = 4`) and civittui with defaults; ratios to both.
(c) peak RSS of civittui downloading a 2 GiB object (`--quick`: 512 MiB).

civittui runs in a child process (so its peak RSS is its own, and the fake server's threads do
not share its interpreter). Files land in `--dest` (default: /dev/shm when it exists, so the
disk's write speed does not decide the race; fsync is then free, as curl never calls it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakecivitai import FakeCivitai  # noqa: E402

MiB = 1 << 20

CHILD = """
import json, resource, sys, time
from pathlib import Path

import anyio

from civittui.config import DownloadSettings
from civittui.download.base import DownloadRequest
from civittui.download.builtin import BuiltinDownloader

url, dest, sha, segments, prefix_hash = sys.argv[1:6]


async def main() -> None:
    settings = DownloadSettings() if segments == "default" else DownloadSettings(
        segments=int(segments)
    )
    async with BuiltinDownloader(settings) as downloader:
        downloader.hash_while_downloading = prefix_hash == "1"
        request = DownloadRequest("file:bench", url, Path(dest), "file", sha256=sha)
        started = time.perf_counter()
        result = await downloader.download(request, lambda done, total, note=None: None)
        elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_bytes = rss if sys.platform == "darwin" else rss * 1024
    print(json.dumps({"seconds": elapsed, "rss": rss_bytes, "sha256": result.sha256}))


anyio.run(main)
"""


def make_source(path: Path, size: int) -> None:
    """Write `size` random bytes to `path` (once; reused by later runs)."""
    if path.exists() and path.stat().st_size == size:
        return
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 8 * MiB))
            fh.write(block)
            left -= len(block)


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def civittui(
    url: str, dest: Path, sha: str, segments: str = "default", prefix_hash: bool = False
) -> dict[str, float]:
    """Run the builtin downloader in a child; return its seconds and peak RSS."""
    root = Path(__file__).resolve().parent.parent
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(dest), sha, segments, "1" if prefix_hash else "0"],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    wall = time.perf_counter() - started
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if report["sha256"] != sha:
        raise SystemExit("civittui returned a wrong SHA256")
    dest.unlink()
    return {"seconds": report["seconds"], "wall": wall, "rss": report["rss"]}


def best(runs: int, fn: object, *args: object, **kwargs: object) -> dict[str, float]:
    """The fastest of `runs` runs of a civittui measurement."""
    results = [fn(*args, **kwargs) for _ in range(runs)]  # type: ignore[operator]
    return min(results, key=lambda r: r["seconds"])


def best_time(runs: int, argv: list[str], cleanup: Path | None = None) -> float:
    times = []
    for _ in range(runs):
        times.append(timed(argv))
        if cleanup is not None:
            cleanup.unlink(missing_ok=True)
    return min(times)


def rate(size: int, seconds: float) -> str:
    return f"{size / seconds / MiB:8.1f} MiB/s  ({seconds:6.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller objects")
    parser.add_argument("--dest", type=Path, default=None, help="where files are written")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per tool")
    args = parser.parse_args()
    big = (256 if args.quick else 1024) * MiB
    throttled = (32 if args.quick else 64) * MiB
    huge = (512 if args.quick else 2048) * MiB
    shm = Path("/dev/shm")
    dest_root = args.dest or (shm if shm.is_dir() and os.access(shm, os.W_OK) else None)
    for tool in ("curl", "aria2c"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed for this benchmark")
    runs = max(args.repeat, 1)

    with (
        tempfile.TemporaryDirectory(prefix="civittui-bench-src-") as src_dir,
        tempfile.TemporaryDirectory(prefix="civittui-bench-", dir=dest_root) as out_dir,
        FakeCivitai() as fake,
    ):
        src, out = Path(src_dir), Path(out_dir)
        print(f"files written to {out} ({'tmpfs' if dest_root == shm else 'as given'})")
        cdn = fake.files

        # (a) unthrottled
        make_source(src / "big.bin", big)
        cdn.put_file("big.bin", src / "big.bin", "application/octet-stream")
        sha = cdn.sha256("big.bin")
        url = cdn.presign("big.bin", "big.bin")
        print(f"\n(a) unthrottled, {big // MiB} MiB, loopback")
        curl_null = best_time(runs, ["curl", "-s", "-o", os.devnull, url])
        curl_file = best_time(
            runs, ["curl", "-s", "-o", str(out / "curl.bin"), url], out / "curl.bin"
        )
        # The same work with public tools: fetch, then hash the file (OpenSSL, as hashlib uses;
        # coreutils' sha256sum is several times slower where it lacks SHA extensions).
        hasher = ["openssl", "dgst", "-sha256"] if shutil.which("openssl") else None
        curl_sha = None
        if hasher is not None:
            curl_sha = min(
                timed(["curl", "-s", "-o", str(out / "curl.bin"), url])
                + timed([*hasher, str(out / "curl.bin")])
                for _ in range(runs)
            )
            (out / "curl.bin").unlink()
        seg = best(runs, civittui, url, out / "c.bin", sha)
        one = best(runs, civittui, url, out / "c.bin", sha, "1")
        prefix = best(runs, civittui, url, out / "c.bin", sha, "default", True)
        print(f"  curl -o /dev/null          {rate(big, curl_null)}")
        print(f"  curl -o file               {rate(big, curl_file)}")
        if curl_sha is not None:
            print(f"  curl -o file + openssl sha256 {rate(big, curl_sha)}")
        print(
            f"  civittui (4 ranges, sha)   {rate(big, seg['seconds'])}  "
            f"x{curl_file / seg['seconds']:.2f} curl-to-file, "
            f"x{curl_null / seg['seconds']:.2f} curl-to-null, RSS {seg['rss'] / MiB:.0f} MiB"
        )
        print(
            f"  civittui (1 stream, sha)   {rate(big, one['seconds'])}  "
            f"x{curl_file / one['seconds']:.2f} curl-to-file, RSS {one['rss'] / MiB:.0f} MiB"
        )
        if curl_sha is not None:
            print(
                f"  vs curl + openssl sha256: x{curl_sha / seg['seconds']:.2f} (4 ranges), "
                f"x{curl_sha / one['seconds']:.2f} (1 stream)"
            )
        print(
            f"  civittui (4 ranges, prefix hashed while downloading) {rate(big, prefix['seconds'])}"
            f"  x{seg['seconds'] / prefix['seconds']:.2f} the read-back-after default"
        )
        cdn.remove("big.bin")
        (src / "big.bin").unlink()

        # (b) throttled
        cap = 8 * MiB
        sha = cdn.put_generated("thr.bin", throttled, seed=64)
        url = cdn.presign("thr.bin", "thr.bin")
        cdn.faults.throttle_per_connection(cap)
        print(f"\n(b) every connection capped at {cap // MiB} MiB/s, {throttled // MiB} MiB")
        curl_t = best_time(runs, ["curl", "-s", "-o", str(out / "curl.bin"), url], out / "curl.bin")
        aria = best_time(
            runs,
            [
                "aria2c", "-q", "-x4", "-s4", "-k1M", "--allow-overwrite=true",
                "--auto-file-renaming=false", "-d", str(out), "-o", "aria.bin", url,
            ],
            out / "aria.bin",
        )  # fmt: skip
        ours = best(runs, civittui, url, out / "c.bin", sha)
        ours_prefix = best(runs, civittui, url, out / "c.bin", sha, "default", True)
        print(f"  curl (1 connection)        {rate(throttled, curl_t)}")
        print(f"  aria2c -x4 -s4 -k1M        {rate(throttled, aria)}  x{curl_t / aria:.2f} curl")
        print(
            f"  civittui (defaults, sha)   {rate(throttled, ours['seconds'])}  "
            f"x{aria / ours['seconds']:.2f} aria2c, x{curl_t / ours['seconds']:.2f} curl"
        )
        print(
            f"  civittui (prefix hashed while downloading) "
            f"{rate(throttled, ours_prefix['seconds'])}"
            f"  x{ours['seconds'] / ours_prefix['seconds']:.2f} the read-back-after default"
        )
        cdn.faults.reset()
        cdn.remove("thr.bin")

        # (c) peak RSS on a big file
        make_source(src / "huge.bin", huge)
        cdn.put_file("huge.bin", src / "huge.bin", "application/octet-stream")
        sha = cdn.sha256("huge.bin")
        url = cdn.presign("huge.bin", "huge.bin")
        res = civittui(url, out / "c.bin", sha)
        print(f"\n(c) {huge // MiB} MiB with defaults: {rate(huge, res['seconds'])}")
        print(f"  civittui peak RSS          {res['rss'] / MiB:.0f} MiB")


if __name__ == "__main__":
    main()
