"""What `adopt` and `sync` cost: API calls, hashing speed, seconds at the default gate.

- adopt: N model files of a fake world (default 1,000: 100 models x 10 versions) written to a
  Lora folder under new names; `civittui adopt` cold (everything hashed) and warm (hash cache),
  API calls vs the floor (N / 100 by-hash calls), hashing throughput vs `sha256sum` on the same
  files (page cache warm for both);
- sync: C creators (default 50) mirrored with `get`, then `civittui sync` with nothing new:
  API calls per creator, and seconds at the default gate (calls x 1.5 s min_interval).

    python -m bench.library [--files 1000] [--size 65536] [--creators 50]

(`-m`: run as a script, `bench/queue.py` would shadow the standard library's `queue`.)
`sha256sum` is one thread of coreutils' own SHA256; adopt hashes in 4 threads with OpenSSL
(hashlib), so on a machine with SHA extensions and the files in the page cache the ratio
measures CPU, not the disk.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from civittui.cli import main  # noqa: E402
from tests.fakecivitai import FakeCivitai  # noqa: E402
from tests.fakecivitai.cdn import FakeCdn  # noqa: E402
from tests.fakecivitai.data import World  # noqa: E402

DEFAULT_INTERVAL = 1.5


def _argv(fake: FakeCivitai, tmp: Path, *extra: str) -> list[str]:
    config = tmp / "config.toml"
    config.touch()
    return [
        *extra,
        "--config", str(config),
        "--root", str(tmp / "mirror"),
        "--lora-dir", str(tmp / "Lora"),
        "--api-base", fake.api_base,
        "--api-key", fake.api_key,
        "--min-interval", "0",
    ]  # fmt: skip


def _quiet(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue()


def bench_adopt(files: int, size: int) -> None:
    versions = 10
    models = max(1, files // versions)

    def world(files_cdn: FakeCdn, images_cdn: FakeCdn) -> World:
        w = World(files_cdn, images_cdn)
        creator = w.add_creator("collector_fav")
        for i in range(models):
            w.add_model(creator, f"Model {i}", "LORA", versions=versions, file_size=size)
        return w

    with FakeCivitai(world) as fake, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        lora = tmp / "Lora"
        lora.mkdir()
        paths = []
        for n, entry in enumerate(fake.world.files.values()):
            path = lora / f"renamed_{n:05d}.safetensors"
            path.write_bytes(fake.files.read(entry.key))
            paths.append(path)
        total = sum(p.stat().st_size for p in paths)
        subprocess.run(["sha256sum", *map(str, paths)], check=True, capture_output=True)
        began = time.perf_counter()
        subprocess.run(["sha256sum", *map(str, paths)], check=True, capture_output=True)
        sha256sum_s = time.perf_counter() - began

        fake.clear_requests()
        code, out = _quiet(_argv(fake, tmp, "adopt", "--json"))
        cold = json.loads(out)
        assert code == 0, out
        calls = len(fake.requests_to("api"))
        fake.clear_requests()
        code, out = _quiet(_argv(fake, tmp, "adopt", "--json"))
        warm = json.loads(out)
        ours = cold["hash_seconds"] or 1e-9
        mib = total / 2**20
        print(f"adopt {len(paths)} files ({mib:,.0f} MiB), {len(cold['adopted'])} identified")
        print(
            f"  cold: {calls} API calls (floor {-(-len(paths) // 100)}), hashed "
            f"{cold['hashed']} in {ours:.2f} s = {mib / ours:,.0f} MiB/s; sha256sum "
            f"{sha256sum_s:.2f} s = {mib / sha256sum_s:,.0f} MiB/s -> "
            f"{sha256sum_s / ours:.2f}x; whole run {cold['seconds']:.2f} s"
        )
        print(
            f"  warm: hashed {warm['hashed']}, {len(fake.requests_to('api'))} API calls, "
            f"{warm['seconds']:.2f} s; at the default gate the cold run's calls take "
            f"{calls * DEFAULT_INTERVAL:.0f} s"
        )


def bench_sync(creators: int) -> None:
    def world(files_cdn: FakeCdn, images_cdn: FakeCdn) -> World:
        w = World(files_cdn, images_cdn)
        for i in range(creators):
            creator = w.add_creator(f"creator_{i:03d}")
            model = w.add_model(creator, f"Model {i}", "LORA", versions=2, file_size=4096)
            for version in model.versions:
                w.add_post(creator, version, title=f"p{i}", images=3, kinds=["png"])
        return w

    with FakeCivitai(world) as fake, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        batch = tmp / "batch.txt"
        batch.write_text(
            "\n".join(f"{fake.api_base}/user/creator_{i:03d}" for i in range(creators)), "utf-8"
        )
        code, _ = _quiet(_argv(fake, tmp, "batch", str(batch)))
        assert code == 0
        fake.clear_requests()
        began = time.perf_counter()
        code, out = _quiet(_argv(fake, tmp, "sync"))
        seconds = time.perf_counter() - began
        assert code == 0, out
        calls = len(fake.requests_to("api"))
        cdn = len(fake.requests_to("files")) + len(fake.requests_to("images"))
        print(
            f"sync {creators} unchanged creators: {calls} API calls "
            f"({calls / creators:.1f} per creator), {cdn} CDN requests, {seconds:.1f} s at "
            f"min_interval 0; at the default gate {calls * DEFAULT_INTERVAL:.0f} s"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64 * 1024, help="bytes per model file")
    parser.add_argument("--creators", type=int, default=50)
    args = parser.parse_args()
    bench_adopt(args.files, args.size)
    bench_sync(args.creators)
