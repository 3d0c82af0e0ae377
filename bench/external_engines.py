"""The external engines against plain tools, on the fake CDN with a per-connection speed cap.

Run:  python bench/external_engines.py [--mib 96] [--cap-mib 8] [--small 20]

(a) one big file from a CDN that caps every TCP connection at `--cap-mib` MiB/s (as real CDNs
    throttle single connections): `curl` (one connection, the reference), `aria2c` run directly
    with 4 connections (`-x4 -s4 -k4M`), and civittui's aria2 engine (JSON-RPC to a running
    `aria2c`, 4 connections, SHA256 checked by aria2 and again here).
(b) `--small` files of 64 KiB one after another, uncapped: the per-file overhead of the aria2
    engine (addUri, polling at the shipped interval, cleanup, local hash) against `curl` per
    file.
Prints seconds and each ratio to the reference measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from civittui.download.aria2 import Aria2Downloader  # noqa: E402
from civittui.download.base import DownloadRequest  # noqa: E402
from tests.fakecivitai import FakeCivitai  # noqa: E402

MIB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_aria2(work: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    port, secret = _free_port(), secrets.token_hex(8)
    daemon = subprocess.Popen(
        [
            "aria2c",
            "--no-conf",
            "--enable-rpc",
            f"--rpc-listen-port={port}",
            f"--rpc-secret={secret}",
            "--rpc-listen-all=false",
            f"--dir={work}",
            "--quiet",
            f"--stop-with-process={os.getpid()}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("aria2c did not start") from None
            time.sleep(0.02)
    return daemon, f"http://127.0.0.1:{port}/jsonrpc", secret


def _timed(run: object) -> float:
    start = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - start


def _curl(url: str, out: Path) -> None:
    subprocess.run(["curl", "-sSf", "-o", str(out), url], check=True)


def _aria2c(url: str, out: Path) -> None:
    subprocess.run(
        [
            "aria2c",
            "--no-conf",
            "-q",
            "-x4",
            "-s4",
            "-k4M",
            "-d",
            str(out.parent),
            "-o",
            out.name,
            url,
        ],
        check=True,
    )


async def _engine(
    rpc: str, secret: str, root: Path, items: list[tuple[str, Path, int, str]]
) -> None:
    # The shipped poll interval (what `make_file_downloader` builds), not a faster one.
    async with Aria2Downloader(rpc_url=rpc, secret=secret, local_root=root) as engine:
        for url, dest, size, sha in items:
            request = DownloadRequest(
                key="file:b", url=url, dest=dest, kind="file", expected_size=size, sha256=sha
            )
            await engine.download(request, lambda done, total, note=None: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=96, help="size of the big file")
    parser.add_argument("--cap-mib", type=float, default=8.0, help="MiB/s per connection")
    parser.add_argument("--small", type=int, default=20, help="number of small files")
    args = parser.parse_args()
    for tool in ("curl", "aria2c"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is required")

    with tempfile.TemporaryDirectory() as tmp, FakeCivitai() as fake:
        work = Path(tmp)
        daemon, rpc, secret = _start_aria2(work)
        try:
            size = args.mib * MIB
            sha = fake.files.put_generated("bench/big.safetensors", size, seed=1)
            fake.files.faults.throttle_per_connection(args.cap_mib * MIB)

            def url() -> str:
                return fake.files.presign("bench/big.safetensors", "big.safetensors")

            print(f"(a) {args.mib} MiB, CDN capped at {args.cap_mib:g} MiB/s per connection")
            ref = _timed(lambda: _curl(url(), work / "curl.bin"))
            direct = _timed(lambda: _aria2c(url(), work / "aria2c.bin"))
            item = [(url(), work / "engine" / "big.safetensors", size, sha)]
            engine = _timed(lambda: asyncio.run(_engine(rpc, secret, work, item)))
            for label, secs in [("curl (1 conn)", ref), ("aria2c -x4 -k4M", direct)]:
                print(f"  {label:24} {secs:6.2f} s  {ref / secs:5.2f}x curl")
            print(f"  {'civittui aria2 engine':24} {engine:6.2f} s  {ref / engine:5.2f}x curl")

            fake.files.faults.throttle_per_connection(None)
            small = []
            for i in range(args.small):
                digest = fake.files.put_generated(f"bench/s{i}.bin", 64 * 1024, seed=100 + i)
                small.append((f"bench/s{i}.bin", digest))
            print(f"(b) {args.small} files of 64 KiB, one after another, uncapped")

            def curl_all() -> None:
                for key, _ in small:
                    _curl(fake.files.presign(key, "s.bin"), work / "s-curl.bin")

            items = [
                (fake.files.presign(key, "s.bin"), work / "small" / f"{i}.bin", 64 * 1024, d)
                for i, (key, d) in enumerate(small)
            ]
            ref = _timed(curl_all)
            engine = _timed(lambda: asyncio.run(_engine(rpc, secret, work, items)))
            n = args.small
            print(f"  {'curl per file':24} {ref / n * 1000:6.1f} ms")
            print(
                f"  {'civittui aria2 engine':24} {engine / n * 1000:6.1f} ms  "
                f"{engine / ref:5.2f}x curl's time"
            )
        finally:
            daemon.kill()
            daemon.wait()


if __name__ == "__main__":
    main()
