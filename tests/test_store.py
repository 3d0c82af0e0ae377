"""The state store: what it remembers across runs, how it answers, what it refuses to keep."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinydb import TinyDB
from tinydb.storages import JSONStorage

from civittui.state import ItemStatus, Store, parse_key
from civittui.state.storage import serialize


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "root" / ".civittui" / "state.json"


def done(store: Store, key: str, target: str | None = "user:alice", size: int = 10) -> None:
    store.mark_done(
        key, target=target, name=f"{key}.bin", path=f"/r/{key}.bin", size=size, sha256="ab" * 32
    )


def fail(store: Store, key: str, **over: object) -> None:
    fields: dict[str, object] = {
        "target": "user:alice",
        "name": f"{key}.bin",
        "reason": "server error (HTTP 503)",
        "http_status": 503,
        "permanent": False,
        "retry_at": None,
        "spec": {"version": 7},
    }
    store.mark_failed(key, **(fields | over))  # type: ignore[arg-type]


def reopen(store: Store) -> Store:
    store.close()
    return Store.open(store.path)


def test_new_store_creates_its_folder_and_file_in_tinydb_format(state_path: Path) -> None:
    store = Store.open(state_path)
    assert state_path.parent.is_dir()
    assert store.dirty  # a new state counts as a change, so close writes the file
    done(store, "image:123")
    store.close()
    # Plain TinyDB reads the same file: the format is TinyDB's, with the CivitAI id as doc_id.
    db = TinyDB(state_path, storage=JSONStorage, access_mode="r")
    assert db.table("image").get(doc_id=123)["path"] == "/r/image:123.bin"
    db.close()


def test_done_item_round_trips_through_the_file(state_path: Path) -> None:
    store = Store.open(state_path)
    done(store, "file:456", size=2048)
    store = reopen(store)
    rec = store.item("file:456")
    assert rec is not None
    assert (rec.kind, rec.id, rec.status) == ("file", 456, ItemStatus.DONE)
    assert (rec.target, rec.name, rec.path, rec.size) == (
        "user:alice",
        "file:456.bin",
        "/r/file:456.bin",
        2048,
    )
    assert rec.sha256 == "ab" * 32
    assert rec.first_seen == rec.updated and rec.updated.endswith("Z")
    assert store.item("file:457") is None
    assert store.item("image:456") is None  # kinds are separate tables


def test_failure_counts_attempts_keeps_spec_and_redacts_tokens(state_path: Path) -> None:
    store = Store.open(state_path)
    fail(store, "file:9", reason="HTTP 500 from https://civitai.com/api/download?token=abc123")
    fail(store, "file:9", spec=None, http_status=500)
    store = reopen(store)
    rec = store.item("file:9")
    assert rec is not None
    assert rec.status is ItemStatus.FAILED
    assert rec.attempts == 2
    assert rec.spec == {"version": 7}  # None keeps the stored spec
    assert rec.http_status == 500
    assert "abc123" not in state_path.read_text()
    assert rec.error == "server error (HTTP 503)"


def test_retry_then_success_keeps_history_and_drops_the_spec(state_path: Path) -> None:
    store = Store.open(state_path)
    fail(store, "image:1")
    first_seen = store.item("image:1").first_seen  # type: ignore[union-attr]
    time.sleep(0.002)
    store.mark_pending("image:1", target="user:alice", name="1.bin", spec=None)
    pending = store.item("image:1")
    assert pending is not None
    assert pending.status is ItemStatus.PENDING
    assert (pending.attempts, pending.error, pending.spec) == (1, None, {"version": 7})
    done(store, "image:1")
    rec = store.item("image:1")
    assert rec is not None
    assert (rec.status, rec.attempts, rec.spec, rec.error) == (ItemStatus.DONE, 1, None, None)
    assert rec.first_seen == first_seen < rec.updated


def test_failures_newest_first_and_permanent_filter(state_path: Path) -> None:
    store = Store.open(state_path)
    fail(store, "image:1")
    time.sleep(0.002)
    fail(store, "file:2", reason="deleted on CivitAI", http_status=404, permanent=True)
    time.sleep(0.002)
    fail(store, "meta:3", retry_at="2030-01-01T00:00:00Z")
    done(store, "image:4")
    store.mark_pending("image:5", target=None, name="5", spec={"a": 1})
    store = reopen(store)
    assert [r.key for r in store.failures()] == ["meta:3", "file:2", "image:1"]
    assert [r.key for r in store.failures(include_permanent=False)] == ["meta:3", "image:1"]
    assert store.item("meta:3").retry_at == "2030-01-01T00:00:00Z"  # type: ignore[union-attr]
    assert store.counts() == {"done": 1, "failed": 3, "pending": 1}


def test_items_by_target_and_status_follow_changes(state_path: Path) -> None:
    store = Store.open(state_path)
    for i in range(5):
        done(store, f"image:{i}", target="user:a")
    done(store, "image:10", target="post:5")
    fail(store, "image:11", target="post:5")
    assert {r.key for r in store.items(target="post:5")} == {"image:10", "image:11"}
    # index now built: later changes must move keys between targets
    done(store, "image:0", target="post:5")
    store.forget("image:10")
    assert {r.key for r in store.items(target="post:5")} == {"image:0", "image:11"}
    assert len(list(store.items(target="user:a"))) == 4
    assert [r.key for r in store.items(status=ItemStatus.FAILED)] == ["image:11"]
    assert len(list(store.items(status=ItemStatus.DONE))) == 5
    assert len(list(store.items())) == 6
    assert store.counts() == {"done": 5, "failed": 1, "pending": 0}
    store = reopen(store)
    assert {r.key for r in store.items(target="post:5")} == {"image:0", "image:11"}
    assert store.item("image:10") is None


def test_iterating_items_while_changing_the_store_is_safe(state_path: Path) -> None:
    store = Store.open(state_path)
    for i in range(50):
        done(store, f"image:{i}")
    seen = 0
    for rec in store.items():
        store.forget(rec.key)
        done(store, f"image:{1000 + seen}")
        seen += 1
    assert seen == 50


def test_bad_keys_are_refused_with_the_expected_form() -> None:
    assert parse_key("meta:789") == ("meta", 789)
    for bad in ("image", "image:", "model:1", "image:-1", "image:1x", "image:١"):
        with pytest.raises(ValueError, match="expected image:ID"):
            parse_key(bad)


def test_targets_keep_queue_order_and_counts(state_path: Path) -> None:
    store = Store.open(state_path)
    for name in ("a", "b", "c", "d"):
        store.upsert_target(f"user:{name}", f"https://civitai.com/user/{name}")
    rec = store.upsert_target("user:b", "https://civitai.com/user/b", status="crawling", found=9)
    assert (rec.status, rec.found, rec.position) == ("crawling", 9, 1)
    store.move_target("user:d", -2)  # a d b c
    store.move_target("user:a", 99)  # clamped to the end: d b c a
    store.move_target("user:nobody", 1)  # no-op
    store.remove_target("user:c")
    store.remove_target("user:nobody")
    store = reopen(store)
    targets = store.targets()
    assert [t.key for t in targets] == ["user:d", "user:b", "user:a"]
    assert [t.position for t in targets] == [0, 1, 2]
    assert targets[1].found == 9 and targets[1].status == "crawling"
    new = store.upsert_target("user:e", "https://civitai.com/user/e")
    assert (new.position, new.status, new.done, new.error) == (3, "queued", 0, None)


def test_target_fields_are_checked(state_path: Path) -> None:
    store = Store.open(state_path)
    with pytest.raises(TypeError, match="unknown field"):
        store.upsert_target("user:a", "u", colour="red")
    with pytest.raises(TypeError, match="count"):
        store.upsert_target("user:a", "u", found="7")
    assert store.targets() == []


def test_settings_and_cooldown_survive_a_restart(state_path: Path) -> None:
    store = Store.open(state_path)
    store.set_setting("nsfw", "X")
    store.set_setting("concurrency", {"images": 8})
    store.set_setting("gone", 1)
    store.set_setting("gone", None)
    until = time.time() + 600
    store.set_cooldown_until(until)
    store = reopen(store)
    assert store.get_setting("nsfw") == "X"
    assert store.get_setting("concurrency") == {"images": 8}
    assert store.get_setting("gone", "default") == "default"
    assert store.cooldown_until() == pytest.approx(until)
    store.set_cooldown_until(time.time() - 1)
    assert store.cooldown_until() is None  # passed
    store.set_cooldown_until(None)
    assert store.cooldown_until() is None
    with pytest.raises(ValueError, match="JSON"):
        store.set_setting("when", object())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("api_key", "k-123"),
        ("civitai_api_key", "k-123"),
        ("Cookie", "session=1"),
        ("session_token", "k-123"),
        ("aria2_secret", "k-123"),
        ("auth", {"Authorization": "Bearer k-123"}),
        ("last_url", "https://civitai.com/api/download/models/1?token=k-123"),
    ],
)
def test_secret_settings_are_refused(state_path: Path, name: str, value: object) -> None:
    store = Store.open(state_path)
    with pytest.raises(ValueError, match="refusing to store"):
        store.set_setting(name, value)
    store.close()
    text = state_path.read_text()
    assert "k-123" not in text and "session=1" not in text and name not in text


def test_specs_refuse_secret_keys_and_mask_tokens_in_urls(state_path: Path) -> None:
    store = Store.open(state_path)
    for spec in ({"api_key": "k-123"}, {"image": {"nested": [{"Cookie": "session=1"}]}}):
        with pytest.raises(ValueError, match="refusing to store"):
            store.mark_pending("file:1", target=None, name="m", spec=spec)
        with pytest.raises(ValueError, match="refusing to store"):
            fail(store, "file:1", spec=spec)
    url = "https://civitai.com/api/download/models/1?type=Model&token=k-123"
    # API JSON keeps its own keys, even ones that mention a token.
    fail(store, "file:1", spec={"url": url, "meta": {"Token merging ratio": 0.5}})
    store = reopen(store)
    spec = store.item("file:1").spec  # type: ignore[union-attr]
    assert spec == {
        "url": "https://civitai.com/api/download/models/1?type=Model&token=***",
        "meta": {"Token merging ratio": 0.5},
    }
    store.close()
    text = state_path.read_text()
    assert "k-123" not in text and "session=1" not in text


def test_folder_claims_dedupe_and_stay_stable(state_path: Path) -> None:
    store = Store.open(state_path)
    assert store.claim_dir("Posts", "101", "Sunset") == "Sunset"
    assert store.claim_dir("Posts", "202", "Sunset") == "Sunset (202)"
    assert store.claim_dir("Posts", "303", "sunset") == "sunset (303)"  # case-insensitive clash
    assert store.claim_dir("Users/bob", "202", "Sunset") == "Sunset"  # other scope, no clash
    store = reopen(store)
    assert store.claim_dir("Posts", "202", "Sunset") == "Sunset (202)"
    assert store.claim_dir("Posts", "101", "Renamed") == "Sunset"  # same owner, same answer
    assert store.claim_dir("Posts", "404", "Sunset (202)") == "Sunset (202) (404)"


def test_exact_name_claims_are_all_or_nothing(state_path: Path) -> None:
    store = Store.open(state_path)
    assert store.claim_names([("f", "1", "a.bin"), ("f", "1:card", "a.json")])
    assert not store.claim_names([("f", "2", "b.bin"), ("f", "2:card", "A.JSON")])  # case folds
    assert store.claimed("f", "2") is None  # nothing of the refused set was kept
    assert not store.claim_names([("f", "1", "other.bin")])  # an owner holds one name
    assert store.claim_names([("f", "1", "a.bin")])  # its own name again: fine
    store = reopen(store)
    assert store.claimed("f", "1:card") == "a.json"


def test_a_read_only_store_never_writes(state_path: Path) -> None:
    with Store.open(state_path) as writer:
        done(writer, "image:1")
    before = state_path.read_bytes()
    store = Store.open(state_path, read_only=True)
    done(store, "image:2")
    assert store.claim_dir("Posts", "1", "x") == "x"
    assert store.flush() is False
    store.close()
    assert state_path.read_bytes() == before
    missing = state_path.parent / "elsewhere" / "state.json"
    Store.open(missing, read_only=True).close()
    assert not missing.parent.exists()


def test_flush_reports_whether_it_wrote(state_path: Path) -> None:
    store = Store.open(state_path)
    assert store.flush() is True
    assert store.flush() is False
    assert not store.dirty
    done(store, "image:1")
    assert store.dirty
    before = state_path.stat().st_mtime_ns
    assert store.flush() is True
    assert orjson.loads(state_path.read_bytes())["image"]["1"]["size"] == 10
    assert state_path.stat().st_mtime_ns >= before
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        done(store, "image:2")


def test_flushes_in_a_thread_while_another_thread_writes(state_path: Path) -> None:
    store = Store.open(state_path)
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def flusher() -> None:
        try:
            while not stop.is_set():
                if store.flush():
                    written.append(len(orjson.loads(state_path.read_bytes())["image"]))
        except BaseException as err:  # surfaced by the assert below
            errors.append(err)

    threads = [threading.Thread(target=flusher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for i in range(10_000):
        done(store, f"image:{i}")
        if i % 3 == 2:
            store.forget(f"image:{i - 1}")
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(written) >= 2  # flushes really overlapped the writes
    store = reopen(store)
    assert store.counts()["done"] == 10_000 - len(range(2, 10_000, 3))


def test_left_over_temp_files_are_cleared_at_open(state_path: Path) -> None:
    Store.open(state_path).close()
    leftover = state_path.with_name(".state.json.abc123.tmp")
    leftover.write_bytes(b'{"image": {"1"')
    Store.open(state_path).close()
    assert not leftover.exists()


def test_chunked_serialization_is_plain_json_of_the_tables() -> None:
    tables = {
        "image": {str(i): {"status": "done", "name": f'é{i}\n"x"'} for i in range(23)},
        "file": {},
        "settings": {"1": {"nsfw": None, "list": [1, 2.5, True]}},
    }
    for size in (1, 5, 23, 1000):
        data = b"".join(serialize(tables, size))
        assert json.loads(data) == tables
        assert data == orjson.dumps(tables)


def test_stored_specs_are_private_copies(state_path: Path) -> None:
    store = Store.open(state_path)
    spec = {"urls": ["https://image.civitai.com/a.jpeg"], "width": 832}
    fail(store, "image:7", spec=spec)
    spec["urls"].append("changed later by the caller")
    rec = store.item("image:7")
    assert rec is not None and rec.spec == {
        "urls": ["https://image.civitai.com/a.jpeg"],
        "width": 832,
    }
    rec.spec["width"] = 1  # type: ignore[index]
    assert store.item("image:7").spec["width"] == 832  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="not storable as JSON"):
        store.mark_pending("image:7", target=None, name="7", spec={"when": object()})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=30, deadline=None)
@given(
    tables=st.dictionaries(
        st.sampled_from(["image", "file", "targets"]),
        st.dictionaries(
            st.integers(0, 10**9).map(str),
            st.dictionaries(st.text(max_size=5), json_values, max_size=4),
            max_size=12,
        ),
        max_size=3,
    ),
    chunk=st.integers(1, 7),
)
def test_chunked_serialization_matches_one_dump(tables: dict, chunk: int) -> None:
    assert b"".join(serialize(tables, chunk)) == orjson.dumps(tables)


def test_members_are_kept_in_chunks_and_a_flush_writes_only_the_grown_one(tmp_path: Path) -> None:
    from civittui.state import members

    path = tmp_path / "state.json"
    store = Store.open(path)
    count = members.CHUNK * 2 + 5
    for n in range(count):
        store.note_member("user:erin", f"image:{n}")
    store.note_member("model:7", "file:1")
    store.flush()
    reopened = Store.open(path, read_only=True)
    assert reopened.members("user:erin") == {f"image:{n}" for n in range(count)}
    assert reopened.members("model:7") == {"file:1"}
    reopened.close()
    store.note_member("user:erin", f"image:{count}")  # one more key: one chunk changes
    changed = {k for k in store._writes.changed if k[0] == "members"}
    store.flush()
    assert len(changed) == 1
    store.remove_target("user:erin")
    store.flush()
    store.close()
    again = Store.open(path, read_only=True)
    assert again.members("user:erin") == set() and again.members("model:7") == {"file:1"}
    again.close()


def test_queueing_many_targets_at_once_keeps_order_fields_and_existing_ones(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = Store.open(path)
    store.upsert_target("user:b", "https://civitai.com/user/b", status="done", found=4)
    store.queue_targets(
        [
            ("post:1", "https://civitai.com/posts/1", {}),
            ("user:b", "https://civitai.com/user/b", {}),  # queued already: updated in place
            ("model:7", "https://civitai.com/models/7", {"choices": {"latest": True}}),
        ]
    )
    store.flush()
    store.close()
    again = Store.open(path, read_only=True)
    rows = [(t.key, t.status, t.found, t.choices) for t in again.targets()]
    assert rows == [
        ("user:b", "done", 4, None),
        ("post:1", "queued", 0, None),
        ("model:7", "queued", 0, {"latest": True}),
    ]
    with pytest.raises(TypeError):
        again.queue_targets([("user:c", "u", {"colour": "red"})])
    again.close()
