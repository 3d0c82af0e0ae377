"""Ctrl+C while a CDN holds a download silently: the process ends at once, the state saved.

A server that accepts the connection and then says nothing (before the response headers, or
halfway through a body) keeps a blocking read waiting for the whole read timeout (a minute).
The process must not wait with it. Real `civittui get` child processes against
`tests/hostile_server.py` on loopback, stopped with a real SIGINT.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from civittui.state import ItemStatus, Store
from tests.fakecivitai.media import safetensors_bytes
from tests.hostile_server import HostileCivitai, HostileHandler, file_entry, images_page, model

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGINT to a child is a POSIX signal")

_PROMPT_EXIT = 10.0
"""Seconds the interrupted process may take (the read timeout it must not wait for is 60)."""


def _serve_model(server: HostileCivitai, body: bytes, cdn_answer: object) -> str:
    sha = hashlib.sha256(body).hexdigest()
    location = f"{server.cdn_base}/files/1.bin"
    server.api("/api/download/models/1", lambda h: h.redirect(location))
    server.cdn("/files/1.bin", cdn_answer)  # type: ignore[arg-type]
    server.api("/api/v1/images", lambda h: h.json(images_page([])))
    record = model(10, files=[file_entry(1, "m.safetensors", len(body), sha)])
    server.api("/api/v1/models/10", lambda h: h.json(record))
    return f"{server.api_base}/models/10"


def _interrupt_when(server: HostileCivitai, tmp: Path, url: str, ready: threading.Event) -> str:
    """Run `get URL`, SIGINT it once `ready` is set; returns stderr after a prompt exit 130."""
    config = tmp / "config.toml"
    config.write_text("[rate]\nretries = 0\n", "utf-8")
    argv = [sys.executable, "-m", "civittui", "get", url, "--config", str(config)]
    argv += ["--root", str(tmp / "mirror"), "--api-base", server.api_base, "--min-interval", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIVITAI", "CIVITTUI"))}
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert ready.wait(30), "the download never reached the CDN"
        time.sleep(0.3)  # the read is now blocked on the silent socket
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = proc.communicate(timeout=90)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert took < _PROMPT_EXIT, f"Ctrl+C took {took:.1f} s"
    return err


def _pending(tmp: Path) -> None:
    with Store.open(tmp / "mirror" / ".civittui" / "state.json", read_only=True) as store:
        record = store.item("file:1")
        assert record is not None and record.status is ItemStatus.PENDING


def test_ctrl_c_before_the_cdn_sends_headers_ends_at_once(tmp_path: Path) -> None:
    reached = threading.Event()
    with HostileCivitai() as server:

        def silent(handler: HostileHandler) -> None:
            reached.set()
            server.stopping.wait(120)

        url = _serve_model(server, safetensors_bytes(4096, 1), silent)
        _interrupt_when(server, tmp_path, url, reached)
    _pending(tmp_path)


def test_ctrl_c_while_the_cdn_stalls_mid_body_ends_at_once_and_keeps_the_bytes(
    tmp_path: Path,
) -> None:
    # Long enough to be read from the socket directly (`rawbody`), not through httpx.
    body = safetensors_bytes(24 << 20, 2)
    half = len(body) // 2
    reached = threading.Event()
    with HostileCivitai() as server:

        def stall_halfway(handler: HostileHandler) -> None:
            def chunks():  # type: ignore[no-untyped-def]
                for start in range(0, half, 1 << 20):
                    yield body[start : min(start + (1 << 20), half)]
                reached.set()
                server.stopping.wait(120)

            handler.stream(chunks(), length=len(body))

        url = _serve_model(server, body, stall_halfway)
        _interrupt_when(server, tmp_path, url, reached)
    _pending(tmp_path)
    [part] = (tmp_path / "mirror").rglob("m.safetensors.part")
    kept = part.read_bytes()
    assert len(kept) >= half and kept[:half] == body[:half]
