"""Peak RSS of `civittui get` against a gzip bomb and a huge JSON page (must stay < 200 MB).

Each case runs the real CLI in a child process against `tests/hostile_server.py` on loopback
and reads the child's peak resident set size (`ru_maxrss`) when it exits. Before the body cap,
the 3 MB bomb took the process to 9.3 GB and the 800 MB page to 2.6 GB.

Usage: python bench/hostile_memory.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hostile_server import HostileCivitai, HostileHandler, images_page  # noqa: E402

_MiB = 1 << 20


def gzip_bomb(unpacked: int) -> bytes:
    """`{"items": [], "metadata": {}` + spaces + `}`, gzip-compressed piece by piece."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [packer.compress(b'{"items": [], "metadata": {}')]
    block = b" " * (16 * _MiB)
    out.extend(packer.compress(block) for _ in range(unpacked // len(block)))
    out.append(packer.compress(b"}"))
    out.append(packer.flush())
    return b"".join(out)


def huge_page(size: int) -> Iterator[bytes]:
    yield b'{"items": [], "metadata": {}'
    block = b" " * _MiB
    for _ in range(size // _MiB):
        yield block
    yield b"}"


def run_case(name: str, serve: object) -> None:
    with HostileCivitai() as server, tempfile.TemporaryDirectory() as tmp:
        server.api("/api/v1/images", serve)  # type: ignore[arg-type]
        config = Path(tmp) / "c.toml"
        config.write_text("[rate]\nretries = 0\n", "utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CIVITAI", "CIVITTUI"))}
        base = server.api_base
        argv = [sys.executable, "-m", "civittui", "get", f"{base}/user/mallory/images"]
        argv += ["--config", str(config), "--root", str(Path(tmp) / "mirror")]
        argv += ["--api-base", base, "--min-interval", "0"]
        proc = subprocess.Popen(argv, stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        err = proc.stderr.read().decode("utf-8", "replace")
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        peak = usage.ru_maxrss / 1024  # KiB on Linux
        reason = next((line for line in err.splitlines() if "larger than" in line), "")
        print(f"{name:<34} peak RSS {peak:6.1f} MB  exit {code}  {reason.strip()[:90]}")


def main() -> None:
    bomb = gzip_bomb(3 * 1024 * _MiB)
    print(f"gzip bomb: {len(bomb) / _MiB:.1f} MB on the wire, 3072 MB unpacked")

    def serve_bomb(h: HostileHandler) -> None:
        h.send_body(200, bomb, "application/json", {"Content-Encoding": "gzip"})

    def serve_page(declared: bool) -> object:
        size = 800 * _MiB

        def serve(h: HostileHandler) -> None:
            length = size + 30 if declared else None
            h.stream(huge_page(size), content_type="application/json", length=length)

        return serve

    def serve_small(h: HostileHandler) -> None:
        h.json(images_page([]))

    run_case("a normal (empty) page, reference", serve_small)
    run_case("3 MB gzip bomb (3 GB unpacked)", serve_bomb)
    run_case("800 MB page, Content-Length", serve_page(True))
    run_case("800 MB page, chunked", serve_page(False))


if __name__ == "__main__":
    main()
