"""The journal: flushes of a big state append changes, replayed at open; a torn tail is ignored;
a compaction killed at any point leaves a state that loads whole."""

from __future__ import annotations

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


@pytest.fixture
def journaled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every state counts as big: flushes go to the journal, compaction at 4x the snapshot."""
    monkeypatch.setattr(storage, "JOURNAL_FROM", 0)
    monkeypatch.setattr(storage, "COMPACT_AT", 4.0)


def done(store: Store, n: int, size: int = 1) -> None:
    store.mark_done(f"image:{n}", target="user:j", name=f"{n}.jpeg", path=f"/r/{n}", size=size,
                    sha256=None)  # fmt: skip


def journals(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.journal.*"))


def sizes(store: Store) -> dict[int, int | None]:
    return {rec.id: rec.size for rec in store.items()}


@pytest.mark.usefixtures("journaled")
def test_flushes_append_to_the_journal_and_open_replays_it(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = Store.open(path)
    for n in range(1, 51):
        done(store, n)
    store.flush()  # the first flush writes the snapshot (there is none yet)
    snapshot = path.read_bytes()
    assert not journals(path)
    for n in range(51, 61):
        done(store, n, size=2)
    store.forget("image:3")
    store.upsert_target("user:j", "https://civitai.com/user/j", found=60)
    store.set_setting("nsfw", "soft")
    assert store.flush()
    assert path.read_bytes() == snapshot  # the change went to the journal
    assert len(journals(path)) == 1
    expected = sizes(store)
    # kill -9 now: nothing more is written; the next open replays the journal
    again = Store.open(path)
    assert sizes(again) == expected and 3 not in expected and expected[60] == 2
    assert [t.found for t in again.targets()] == [60]
    assert again.get_setting("nsfw") == "soft"
    assert again.counts()["done"] == 59
    again.close()
    store.close()


@pytest.mark.usefixtures("journaled")
def test_a_torn_journal_tail_is_ignored_and_cut(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = Store.open(path)
    done(store, 1)
    store.flush()
    done(store, 2)
    store.flush()
    done(store, 3)
    store.flush()
    (journal,) = journals(path)
    whole = journal.read_bytes()
    last = whole.rindex(b"image\t3\t")  # the third flush's batch starts here
    for cut in range(last, len(whole), 7):
        journal.write_bytes(whole[:cut] + b"\x00" * 5)  # torn, with garbage a crash may leave
        reopened = Store.open(path)
        assert sorted(sizes(reopened)) == [1, 2], cut
        assert journal.stat().st_size == last  # cut at the last whole batch...
        done(reopened, 4)
        reopened.flush()  # ...so a new batch does not follow garbage
        assert sorted(sizes(Store.open(path))) == [1, 2, 4]
    # a batch whose CRC does not match is dropped whole
    journal.write_bytes(whole.replace(b"/r/3", b"/r/X"))
    assert sorted(sizes(Store.open(path))) == [1, 2]
    store.close()


@pytest.mark.usefixtures("journaled")
def test_a_reader_beside_the_writer_leaves_a_half_appended_journal_alone(tmp_path: Path) -> None:
    """`status` opens read-only beside a running `get`: a batch the writer is still appending
    looks torn to the reader, who must neither cut it nor delete a journal."""
    path = tmp_path / "state.json"
    writer = Store.open(path)
    done(writer, 1)
    writer.flush()
    done(writer, 2)
    writer.flush()
    (journal,) = journals(path)
    whole = journal.read_bytes()
    journal.write_bytes(whole[: len(whole) - 3])  # the writer is mid-append
    half = journal.read_bytes()
    reader = Store.open(path, read_only=True)
    assert sorted(sizes(reader)) == [1]
    reader.close()
    assert journal.read_bytes() == half
    journal.write_bytes(whole)  # the append completes
    assert sorted(sizes(Store.open(path, read_only=True))) == [1, 2]
    writer.close()


@pytest.mark.usefixtures("journaled")
def test_compaction_rewrites_the_snapshot_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "COMPACT_AT", 0.2)
    path = tmp_path / "state.json"
    store = Store.open(path)
    for n in range(1, 200):
        done(store, n)
    store.flush()
    flushes = 0
    while len(orjson.loads(path.read_bytes())["image"]) < 250:
        done(store, 200 + flushes)
        store.flush()
        flushes += 1
        store._storage.wait()
        assert flushes < 100
    assert len(journals(path)) <= 1  # the sealed journals were deleted
    expected = sizes(store)
    store.close()
    assert sizes(Store.open(path)) == expected


@pytest.mark.usefixtures("journaled")
@pytest.mark.parametrize("crash", ["before the snapshot replace", "before the journals go"])
def test_a_compaction_stopped_at_any_step_leaves_a_whole_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash: str
) -> None:
    path = tmp_path / "state.json"
    store = Store.open(path)
    for n in range(1, 100):
        done(store, n)
    store.flush()
    for n in range(1, 100):
        done(store, n, size=2)  # a journal as big as the snapshot: compaction is due
    store.flush()
    monkeypatch.setattr(storage, "COMPACT_AT", 0.5)
    real_replace, real_unlink = os.replace, Path.unlink

    def stop_replace(src: str | Path, dst: str | Path) -> None:
        if crash == "before the snapshot replace" and Path(dst) == path:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    def stop_unlink(self: Path, missing_ok: bool = False) -> None:
        if crash == "before the journals go" and ".journal." in self.name:
            raise OSError(5, "killed")
        real_unlink(self, missing_ok)

    monkeypatch.setattr(os, "replace", stop_replace)
    monkeypatch.setattr(Path, "unlink", stop_unlink)
    done(store, 500, size=3)
    store.flush()  # appends, seals journal 1, starts the compaction (which stops)
    store._storage.wait()
    done(store, 501, size=4)
    if crash == "before the snapshot replace":
        with pytest.raises(StateError, match="No space left"):
            store.flush()  # written to journal 2, and the failed compaction reported
    else:
        store.flush()
    store._storage.wait()
    expected = sizes(store)
    assert expected[500] == 3 and expected[1] == 2
    monkeypatch.undo()
    # the process dies here; what is on disk must load as the state
    assert sizes(Store.open(path)) == expected
    if crash == "before the journals go":
        assert len(journals(path)) == 1  # the open cleared the journal the snapshot holds


# Marks items done in rounds of 300 with the journal on and compaction frequent, printing the
# count after every completed flush.
WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from civittui.state import storage
    from civittui.store import Store

    storage.JOURNAL_FROM = 0
    storage.COMPACT_AT = 0.3
    store = Store.open(Path(sys.argv[1]))
    n = sum(store.counts().values())
    print("start", n, flush=True)
    while True:
        for _ in range(300):
            n += 1
            store.mark_done(f"image:{n}", target="user:crash", name=f"{n}.jpeg",
                            path=f"/r/{n}.jpeg", size=n, sha256=None)
        store.mark_done("image:1", target="user:crash", name="1.jpeg", path="/r/1.jpeg",
                        size=n, sha256=None)
        store.flush()
        print(n, flush=True)
    """
)


def test_kill_9_with_the_journal_never_breaks_or_loses_flushed_state(tmp_path: Path) -> None:
    path = tmp_path / ".civittui" / "state.json"
    with Store.open(path) as store:
        for n in range(1, 3_001):
            store.mark_done(
                f"image:{n}", target="user:crash", name="x", path=f"/r/{n}", size=n, sha256=None
            )
    rng = random.Random(20261130)
    previous = 3_000
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
        time.sleep(rng.uniform(0.005, 0.3))
        child.kill()
        out, _ = child.communicate()
        flushed = [int(line) for line in out.split()] or [int(first.split()[1])]
        store = Store.open(path)
        count = sum(store.counts().values())
        one = store.item("image:1")
        store.close()
        assert count >= flushed[-1], f"lost flushed records: {count} < {flushed[-1]}"
        assert count >= previous, f"records went back: {count} < {previous}"
        # image:1 is rewritten with the count at every flush: a whole flush, or none of it
        assert one is not None and (
            one.size == count or count == previous == 3_000 and one.size == 1
        )
        previous = count


@pytest.mark.parametrize("block", [7, 64, 1 << 24])
def test_a_snapshot_loads_line_by_line_at_any_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    path = tmp_path / "state.json"
    with Store.open(path) as store:
        for n in range(1, 40):
            done(store, n, size=n)
        store.forget("image:5")
        store.upsert_target("user:j", "https://civitai.com/user/j")
        store.claim_dir("Posts", "1", "Sunset")
        expected = sizes(store)
    monkeypatch.setattr(storage, "_BLOCK", block)
    loaded = storage._read_snapshot(path)
    assert loaded is not None  # the fast path, not the whole-file parse
    tables, journal, size = loaded
    assert {i: orjson.loads(d)["size"] for i, d in tables["image"].items()} == expected
    assert size == path.stat().st_size
    assert sizes(Store.open(path)) == expected
    # one byte changed: the checksum refuses it, and the whole-file parse takes over
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b'"size":7,', b'"size":8,'))
    assert storage._read_snapshot(path) is None
    assert sizes(Store.open(path))[7] == 8


@pytest.mark.usefixtures("journaled")
def test_quarantine_takes_the_journals_along(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = Store.open(path)
    done(store, 1)
    store.flush()
    done(store, 2)
    store.flush()
    assert journals(path)
    aside = quarantine(path)
    assert not journals(path)
    assert list(tmp_path.glob(f"{aside.name}.journal.*"))
    fresh = Store.open(path)
    assert fresh.counts() == {"done": 0, "failed": 0, "pending": 0}
    fresh.close()
    store._storage.wait()
