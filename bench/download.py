"""The builtin downloader against curl and aria2c on the fake CDN (loopback), in one run.

Run:  python bench/download.py [--quick] [--dest DIR] [--repeat N] [--hogs N]

Every tool is timed the same way: as a whole process, from spawn to exit, by this script.
civittui runs as `bench/download_driver.py` (a process that imports civittui, fetches one URL
with the builtin downloader at the **default** settings and exits), so its interpreter start
and imports are counted just as curl's and aria2c's start-up are. Each ratio is printed twice:
whole processes, and net of each tool's own fixed cost (its whole-process time for a 1-byte
object, measured in the same run and under the same load).

(a) unthrottled: one 1 GiB object (`--quick`: 256 MiB) served from a file with sendfile. The
    reference is the one-pass `curl URL | tee FILE | openssl dgst -sha256` (fetch, write and
    hash, overlapped by the pipe), against civittui with defaults (`segments = 4`, adaptive)
    and with one stream. Then the same with `--hogs` CPU-bound processes running beside both.
(b) throttled: the CDN caps every connection at 8 MiB/s; one 64 MiB object (`--quick`: 32 MiB,
    `--throttled-mib N`: N MiB; `--only-throttled` runs (b) alone)
    through `aria2c -x4 -s4 -k1M` (as many connections as the default `segments = 4`), the same
    with `--checksum=sha-256` (aria2c then hashes the file after the transfer, as civittui
    verifies every file) and civittui with defaults; ratios to both.
(c) peak RSS of civittui downloading a 2 GiB object (`--quick`: 512 MiB).

The fake CDN runs in this process (its own threads). Files land in `--dest` (default:
/dev/shm when it exists, so the disk's write speed does not decide the race; fsync is then
free, as curl never calls it). Each round runs every tool once, back to back, so they share
the machine's load; the best of `--repeat` rounds is kept per tool. `uptime` is printed at the
start and the end: quote ratios with it.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakecivitai import FakeCivitai  # noqa: E402

MiB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent
DRIVER = Path(__file__).resolve().parent / "download_driver.py"


def make_source(path: Path, size: int) -> None:
    """Write `size` random bytes to `path`."""
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 8 * MiB))
            fh.write(block)
            left -= len(block)


def uptime() -> str:
    """The load averages (1, 5, 15 min), as `uptime` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def run_timed(argv: list[str], *, shell: bool = False) -> tuple[float, str]:
    """Seconds from spawn to exit, and stdout."""
    started = time.perf_counter()
    out = subprocess.run(
        argv if not shell else ["bash", "-o", "pipefail", "-c", argv[0]],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if out.returncode:
        raise SystemExit(f"{Path(argv[0]).name} failed:\n{out.stderr[-2000:]}")
    return time.perf_counter() - started, out.stdout


def curl_tee_sha(url: str, dest: Path, sha: str) -> float:
    """The one-pass public-tools reference: fetch, write and hash through a pipe."""
    seconds, out = run_timed(
        [f"curl -sS '{url}' | tee '{dest}' | openssl dgst -sha256"], shell=True
    )
    if sha not in out:
        raise SystemExit("curl | tee | openssl printed a wrong SHA256")
    dest.unlink()
    return seconds


def aria2c(url: str, dest: Path, sha: str | None = None) -> float:
    """`aria2c -x4 -s4 -k1M`; with `sha`, also `--checksum` (it hashes the file once it is in,
    as civittui must before it names a file)."""
    check = [f"--checksum=sha-256={sha}"] if sha else []
    seconds, _ = run_timed(
        [
            "aria2c", "--no-conf", "-q", "-x4", "-s4", "-k1M", "--allow-overwrite=true",
            "--auto-file-renaming=false", *check, "-d", str(dest.parent), "-o", dest.name, url,
        ]
    )  # fmt: skip
    dest.unlink()
    return seconds


def civittui(url: str, dest: Path, sha: str, segments: str = "default") -> dict[str, float]:
    """The driver as a whole process: seconds from spawn to exit, its peak RSS, connections."""
    seconds, out = run_timed([sys.executable, "-P", str(DRIVER), url, str(dest), sha, segments])
    report = json.loads(out.strip().splitlines()[-1])
    if report["sha256"] != sha:
        raise SystemExit("civittui returned a wrong SHA256")
    dest.unlink()
    return {"seconds": seconds, "rss": report["rss"]}


@contextlib.contextmanager
def hogs(count: int) -> Iterator[None]:
    """`count` processes spinning on the CPU for the duration."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.3)  # let them take their share first
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def rate(size: int, seconds: float) -> str:
    return f"{size / seconds / MiB:8.1f} MiB/s  ({seconds:6.2f} s)"


def fixed_costs(fake: FakeCivitai, out: Path, runs: int) -> dict[str, float]:
    """Each tool's own start-up and exit: its whole-process time for a 1-byte object."""
    sha = fake.files.put_generated("one.bin", 1, seed=1)
    url = fake.files.presign("one.bin", "one.bin")
    costs = {
        "curl": min(curl_tee_sha(url, out / "curl.bin", sha) for _ in range(runs)),
        "aria2c": min(aria2c(url, out / "aria.bin") for _ in range(runs)),
        "civittui": min(civittui(url, out / "c.bin", sha)["seconds"] for _ in range(runs)),
    }
    fake.files.remove("one.bin")
    print(
        "fixed cost per process (1-byte object): "
        + ", ".join(f"{tool} {seconds * 1000:.0f} ms" for tool, seconds in costs.items())
    )
    return costs


def line(label: str, size: int, seconds: float, ref: float, fixed: float, ref_fixed: float) -> str:
    """A result with its ratio as whole processes and after each tool's own fixed cost."""
    net = max(seconds - fixed, 1e-3)
    return (
        f"  {label:30} {rate(size, seconds)}  x{ref / seconds:.2f} whole process, "
        f"x{max(ref - ref_fixed, 1e-3) / net:.2f} net of start-up"
    )


def unthrottled(
    size: int, url: str, sha: str, out: Path, runs: int, label: str, fixed: dict[str, float]
) -> None:
    """(a): the one-pass reference against civittui default and one stream, best of runs."""
    ref, ours, one = [], [], []
    for _ in range(runs):
        ref.append(curl_tee_sha(url, out / "curl.bin", sha))
        ours.append(civittui(url, out / "c.bin", sha)["seconds"])
        one.append(civittui(url, out / "c.bin", sha, "1")["seconds"])
    best_ref = min(ref)
    print(f"\n(a) unthrottled, {size // MiB} MiB, loopback, {label}")
    print(f"  {'curl | tee | openssl sha256':30} {rate(size, best_ref)}")
    for name, times in (("civittui (defaults)", ours), ("civittui (segments = 1)", one)):
        print(line(name, size, min(times), best_ref, fixed["civittui"], fixed["curl"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller objects")
    parser.add_argument("--dest", type=Path, default=None, help="where files are written")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best is kept")
    parser.add_argument("--hogs", type=int, default=2, help="CPU hogs in the loaded leg")
    parser.add_argument("--skip-rss", action="store_true", help="skip (c)")
    parser.add_argument("--throttled-mib", type=int, default=None, help="size of (b)'s object")
    parser.add_argument("--only-throttled", action="store_true", help="run (b) alone")
    args = parser.parse_args()
    big = (256 if args.quick else 1024) * MiB
    throttled = (args.throttled_mib or (32 if args.quick else 64)) * MiB
    huge = (512 if args.quick else 2048) * MiB
    shm = Path("/dev/shm")
    dest_root = args.dest or (shm if shm.is_dir() and os.access(shm, os.W_OK) else None)
    for tool in ("curl", "aria2c", "openssl", "tee"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed for this benchmark")
    runs = max(args.repeat, 1)
    # An installed civittui starts from compiled bytecode; where PYTHONDONTWRITEBYTECODE is set
    # every start would compile the sources again and count that as start-up.
    compileall.compile_dir(ROOT / "civittui", quiet=1)
    print(f"load at start: {uptime()}")

    with (
        tempfile.TemporaryDirectory(prefix="civittui-bench-src-") as src_dir,
        tempfile.TemporaryDirectory(prefix="civittui-bench-", dir=dest_root) as out_dir,
        FakeCivitai() as fake,
    ):
        src, out = Path(src_dir), Path(out_dir)
        print(f"files written to {out} ({'tmpfs' if dest_root == shm else 'as given'})")
        cdn = fake.files

        fixed = fixed_costs(fake, out, runs)
        if not args.only_throttled:
            make_source(src / "big.bin", big)
            cdn.put_file("big.bin", src / "big.bin", "application/octet-stream")
            sha = cdn.sha256("big.bin")
            url = cdn.presign("big.bin", "big.bin")
            unthrottled(big, url, sha, out, runs, "machine as it is", fixed)
            with hogs(args.hogs):
                loaded = fixed_costs(fake, out, runs)
                unthrottled(big, url, sha, out, runs, f"{args.hogs} CPU hogs beside", loaded)
            cdn.remove("big.bin")
            (src / "big.bin").unlink()

        cap = 8 * MiB
        sha = cdn.put_generated("thr.bin", throttled, seed=64)
        url = cdn.presign("thr.bin", "thr.bin")
        cdn.faults.throttle_per_connection(cap)
        aria, checked, ours = [], [], []
        for _ in range(runs):
            aria.append(aria2c(url, out / "aria.bin"))
            checked.append(aria2c(url, out / "aria.bin", sha))
            ours.append(civittui(url, out / "c.bin", sha)["seconds"])
        print(f"\n(b) every connection capped at {cap // MiB} MiB/s, {throttled // MiB} MiB")
        print(f"  {'aria2c -x4 -s4 -k1M':30} {rate(throttled, min(aria))}")
        print(f"  {'aria2c ... --checksum=sha-256':30} {rate(throttled, min(checked))}")
        best = min(ours)
        for ref_name, ref in (("aria2c", min(aria)), ("aria2c --checksum", min(checked))):
            ratio = line(
                "civittui (defaults, sha)", throttled, best, ref, fixed["civittui"], fixed["aria2c"]
            )
            print(f"{ratio}  (vs {ref_name})")
        cdn.faults.reset()
        cdn.remove("thr.bin")

        if not (args.skip_rss or args.only_throttled):
            make_source(src / "huge.bin", huge)
            cdn.put_file("huge.bin", src / "huge.bin", "application/octet-stream")
            sha = cdn.sha256("huge.bin")
            res = civittui(cdn.presign("huge.bin", "huge.bin"), out / "c.bin", sha)
            print(f"\n(c) {huge // MiB} MiB with defaults: {rate(huge, res['seconds'])}")
            print(f"  civittui peak RSS              {res['rss'] / MiB:.0f} MiB")
    print(f"\nload at end: {uptime()}")


if __name__ == "__main__":
    main()
