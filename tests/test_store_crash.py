"""The state file survives `kill -9` at any instant, and a bad file gives a way out, never a
traceback or a silent loss."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest

from civittui.errors import StateError
from civittui.state import storage
from civittui.store import Store, quarantine

# Marks items done in rounds of 500 and prints the count after every completed flush. Every
# flush rewrites the snapshot here (the journal has its own kill test in test_store_journal.py).
WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from civittui.state import storage
    from civittui.store import Store

    storage.JOURNAL_FROM = 1 << 40
    store = Store.open(Path(sys.argv[1]))
    n = sum(store.counts().values())
    print("start", n, flush=True)
    while True:
        for _ in range(500):
            n += 1
            store.mark_done(f"image:{n}", target="user:crash", name=f"{n}.jpeg",
                            path=f"/r/{n}.jpeg", size=n, sha256=None)
        store.flush()
        print(n, flush=True)
    """
)


def temp_files(path: Path) -> list[Path]:
    return list(path.parent.glob(f".{path.name}.*.tmp"))


def test_kill_9_at_random_moments_never_breaks_or_loses_flushed_state(tmp_path: Path) -> None:
    path = tmp_path / ".civittui" / "state.json"
    with Store.open(path) as store:  # big enough that a flush takes a while
        for n in range(1, 5_001):
            store.mark_done(
                f"image:{n}", target="user:crash", name="x", path=f"/r/{n}", size=n, sha256=None
            )
    rng = random.Random(20261125)
    previous = 5_000
    killed_mid_write = 0
    for _round in range(12):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.startswith("start"), child.stderr.read() if child.stderr else first
        time.sleep(rng.uniform(0.005, 0.25))
        child.kill()  # SIGKILL on POSIX, TerminateProcess on Windows
        out, err = child.communicate()
        flushed = [int(line) for line in out.split()] or [int(first.split()[1])]
        killed_mid_write += bool(temp_files(path))

        raw = path.read_bytes()
        data = orjson.loads(raw)  # parses...
        assert json.loads(raw) == data  # ...with either parser
        store = Store.open(path)  # ...and loads
        count = sum(store.counts().values())
        store.close()
        assert count >= flushed[-1], f"lost flushed records: {count} < {flushed[-1]}"
        assert count >= previous, f"records went back: {count} < {previous}"
        assert count == len(data["image"])
        assert not temp_files(path)  # open cleared what the kill left
        previous = count
    print(f"{killed_mid_write} of 12 kills landed inside a write; {previous:,} records kept")
    # The test means something only if some kills landed inside a write.
    assert killed_mid_write > 0


def write_state(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def valid_state(tmp_path: Path) -> Path:
    path = tmp_path / ".civittui" / "state.json"
    with Store.open(path) as store:
        for n in range(1, 200):
            store.mark_done(f"image:{n}", target=None, name="x", path="/p", size=n, sha256=None)
    return path


def assert_way_out(err: pytest.ExceptionInfo[StateError], path: Path, what: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    assert what in message
    assert "civittui status --reset-state" in message
    assert "nothing is downloaded twice" in message


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "is corrupt (the file is empty)"),
        (b"hello", "is corrupt (unexpected character"),
        (b"\xff\xfe\x00garbage", "is corrupt ("),
        (b'{"image": {"1": {"status": "done"', "is corrupt ("),
        (b"[1, 2]", "is not civittui state (the top level is not an object)"),
        (b'{"_default": {"1": {"a": 1}}}', "is not civittui state (it holds table '_default')"),
        (b'{"image": []}', "is corrupt (table 'image' is not an object)"),
        (b'{"image": {"abc": {}}}', "document id 'abc', not a number"),
        (
            b'{"image": {"5": {"status": "finished", "updated": "t"}}}',
            "image 5: unknown item status",
        ),
        (b'{"file": {"5": {"status": "done", "updated": "t", "size": "big"}}}', "'size' holds"),
        (b'{"file": {"5": {"status": "done", "updated": "t", "size": true}}}', "'size' holds"),
        (b'{"meta": {"5": {"status": "done", "updated": "t", "colour": 1}}}', "unknown item field"),
        (b'{"meta": {"5": {"status": "done"}}}', "lacks its `updated` time"),
        (b'{"targets": {"1": {"key": 5}}}', "targets 1: target field 'key'"),
        (b'{"dirs": {"1": {"scope": "Posts", "owner": 1, "name": "x"}}}', "dirs 1: folder claim"),
        (b'{"settings": {"1": [1]}}', "settings 1: not an object"),
        (b'{"civittui": {"1": {"format": "one"}}}', "format 'one' is not a number"),
    ],
)
def test_bad_state_files_give_the_way_out(tmp_path: Path, content: bytes, what: str) -> None:
    path = write_state(tmp_path / ".civittui" / "state.json", content)
    with pytest.raises(StateError) as err:
        Store.open(path)
    assert_way_out(err, path, what)
    assert path.read_bytes() == content  # never touched, never silently replaced


def test_truncated_real_state_file_is_reported_not_loaded(tmp_path: Path) -> None:
    path = valid_state(tmp_path)
    raw = path.read_bytes()
    for cut in (1, len(raw) // 3, len(raw) - 1):
        path.write_bytes(raw[:cut])
        with pytest.raises(StateError) as err:
            Store.open(path)
        assert_way_out(err, path, "is corrupt (")


def test_state_from_a_newer_civittui_asks_for_an_upgrade(tmp_path: Path) -> None:
    path = write_state(tmp_path / "state.json", b'{"civittui": {"1": {"format": 99}}}')
    with pytest.raises(StateError, match=r"newer civittui \(format 99\); upgrade civittui"):
        Store.open(path)


def test_unreadable_state_file_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / ".civittui" / "state.json"
    path.mkdir(parents=True)  # a folder where the file should be
    with pytest.raises(StateError, match="cannot read state file"):
        Store.open(path)


def test_state_folder_that_cannot_be_made_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "root").write_text("a file where the root folder should be")
    with pytest.raises(StateError, match="cannot create the state folder"):
        Store.open(tmp_path / "root" / ".civittui" / "state.json")


def test_quarantine_moves_the_file_aside_and_the_next_open_starts_afresh(tmp_path: Path) -> None:
    path = write_state(tmp_path / ".civittui" / "state.json", b"{broken")
    with pytest.raises(StateError):
        Store.open(path)
    aside = quarantine(path)
    assert aside.parent == path.parent
    assert aside.name.startswith("state.json.corrupt-")
    assert len(aside.name) == len("state.json.corrupt-YYYYmmddTHHMMSS")
    assert aside.read_bytes() == b"{broken"
    assert not path.exists()
    write_state(path, b"{broken again")
    second = quarantine(path)  # same second: a distinct name, nothing overwritten
    assert second != aside and second.read_bytes() == b"{broken again"
    with Store.open(path) as store:
        assert store.counts() == {"done": 0, "failed": 0, "pending": 0}
    assert orjson.loads(path.read_bytes())["civittui"]["1"]["format"] == storage.FORMAT


def test_replacing_the_file_while_a_reader_holds_it_open(tmp_path: Path) -> None:
    path = valid_state(tmp_path)
    with path.open("rb") as reader:
        store = Store.open(path)
        store.mark_done("image:999", target=None, name="x", path="/p", size=1, sha256=None)
        assert store.flush()  # os.replace over an existing, open file
        assert b'"999"' not in reader.read()  # the reader keeps the old, whole file
        store.close()
    assert "999" in orjson.loads(path.read_bytes())["image"]


def test_a_transient_replace_refusal_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows refuses to replace a file another process has open for a moment."""
    path = valid_state(tmp_path)
    store = Store.open(path)
    store.mark_done("image:999", target=None, name="x", path="/p", size=1, sha256=None)
    real_replace = os.replace
    refusals = [PermissionError(13, "Access is denied")] * 2

    def replace(src: str | Path, dst: str | Path) -> None:
        if refusals:
            raise refusals.pop()
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    assert store.flush()
    assert not refusals
    assert "999" in orjson.loads(path.read_bytes())["image"]


def test_a_failed_write_keeps_the_old_file_and_the_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = valid_state(tmp_path)
    before = path.read_bytes()
    store = Store.open(path)
    store.mark_done("image:999", target=None, name="x", path="/p", size=1, sha256=None)

    def refuse(src: str | Path, dst: str | Path) -> None:
        raise PermissionError(13, "Access is denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(StateError, match=r"cannot write state file .*Access is denied"):
        store.flush()
    assert path.read_bytes() == before
    assert not temp_files(path)
    assert store.dirty
    monkeypatch.undo()
    store.close()  # the pending change is written once the disk allows it
    assert "999" in orjson.loads(path.read_bytes())["image"]


def test_fsync_of_a_folder_that_cannot_be_opened_is_skipped(tmp_path: Path) -> None:
    storage.fsync_dir(tmp_path / "missing")  # no error: some systems cannot fsync folders
