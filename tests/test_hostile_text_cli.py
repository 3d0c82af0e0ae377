"""Server text with escapes, bidi and markup never reaches the terminal raw from the CLI.

The real CLI runs in a subprocess against the fake CivitAI serving `hostile_world`, and the bytes
it writes to stdout and stderr are checked.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from civittui.cli.progress import ProgressPrinter
from civittui.events import ItemStarted, Notice
from civittui.layout import sanitize_component, sanitize_filename
from civittui.textsafe import display_text, json_text
from tests.cli_helpers import Mirror, make_mirror
from tests.fakecivitai import FakeCivitai
from tests.hostile_text import CREATOR, HOSTILE, UNSAFE, hostile_world


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with FakeCivitai(world=hostile_world) as fake:
        yield make_mirror(fake, tmp_path, monkeypatch)


def _run(mirror: Mirror, *args: str) -> tuple[int, str, str]:
    proc = mirror.spawn(*args)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def _raw(mirror: Mirror, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "civittui", *mirror.args(*args)],
        capture_output=True,
        timeout=60,
        check=False,
    )


def _assert_clean(data: bytes) -> str:
    text = data.decode("utf-8")  # a lone surrogate would not even have been writable
    found = UNSAFE.findall(text)
    assert not found, f"unsafe characters reached the terminal: {found!r}"
    return text


def test_get_failures_status_and_tokens_print_no_escape_or_bidi(mirror: Mirror) -> None:
    fake = mirror.fake
    # The server's own words reach failure reasons and a target's error (CivitAI answers 403
    # with {"message": ...}, see civitai/civitai src/pages/api/download/models/[modelVersionId].ts).
    fake.api_faults.inject("/api/download/models/", status=403, body={"message": HOSTILE}, times=9)
    other = next(m for m in fake.world.models.values() if m.creator.username == "alice")
    fake.api_faults.inject(f"/api/v1/models/{other.id}", status=403, body={"message": HOSTILE})
    urls = (mirror.url(f"/user/{CREATOR}"), mirror.url(f"/models/{other.id}"))

    get = _raw(mirror, "get", *urls)
    assert get.returncode == 1
    err = _assert_clean(get.stderr)
    _assert_clean(get.stdout)
    assert display_text(HOSTILE) in err  # shown, only defused
    assert "Markup [/] [bold]loud[/bold]" in err

    for command in (("failures",), ("status",), ("tokens",)):
        done = _raw(mirror, *command)
        assert done.returncode in (0, 1), done.stderr
        out = _assert_clean(done.stdout)
        _assert_clean(done.stderr)
        assert "pwned-title" in out.lower(), command


def test_json_outputs_stay_exact_and_escaped(mirror: Mirror) -> None:
    fake = mirror.fake
    fake.api_faults.inject("/api/download/models/", status=403, body={"message": HOSTILE}, times=9)
    assert _raw(mirror, "get", mirror.url(f"/user/{CREATOR}")).returncode == 1
    done = _raw(mirror, "failures", "--json")
    assert done.returncode == 0
    text = _assert_clean(done.stdout)
    reasons = [row["reason"] for row in json.loads(text)]
    assert any(HOSTILE in reason for reason in reasons)  # exact once parsed


def test_display_text_keeps_text_and_drops_what_steers_a_terminal() -> None:
    assert display_text("a\x1b[2Jb\x9bc\u202ed\u2066e\u2069\u200ef\ud800") == "a[2Jbcdef"
    assert display_text("one\ntwo\tthree\r\n") == "one two three "
    assert display_text("one\r\ntwo\x07", multiline=True) == "one\ntwo"
    assert display_text("메이드 クラシック [/]") == "메이드 クラシック [/]"
    value = {"s": "x\x1b\x7f\x9b\u202e\ud800"}
    assert json.loads(json_text(value)) == value
    assert not UNSAFE.search(json_text(value))


def test_file_names_share_the_definition_and_lose_bidi_overrides() -> None:
    # "\u202egnp.exe" shows as "exe.png" in a file manager: the override becomes "_".
    assert sanitize_filename("cute\u202egnp.exe", fallback="x") == "cute_gnp.exe"
    assert not UNSAFE.search(sanitize_component(HOSTILE, fallback="x"))


def test_the_live_progress_line_on_a_terminal_is_defused_too() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(stream, live=True)  # what a TTY gets: one rewritten line
    printer.handle(ItemStarted("file:1", HOSTILE, 1000, "builtin"))
    printer.handle(Notice(HOSTILE, level="error"))
    written = stream.getvalue()
    assert "pwned-title" in written
    # "\r" is the live line's own rewrite; nothing else may steer the terminal.
    assert not UNSAFE.search(written.replace("\r", ""))
