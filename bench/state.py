"""How the state store behaves at 100k items, against plain TinyDB doing the same work.

Run:  python bench/state.py [--n 100000] [--plain-n 2000] [--cached-n 5000]
      python bench/state.py --n 1000000      (the million-item case)

(a) civittui `Store` in a fresh temp folder: open empty; N mixed mark_done / mark_failed calls
    (85 % done, 15 % failed, over images, model files and metadata) with a flush every 1,000
    calls, as the engine flushes about once a second; updates of existing items at full size;
    lookups by key; failures(); flush; how long flushes in a worker thread stall an asyncio
    loop ticking every millisecond while it keeps marking items (journal appends, then one
    compaction: the snapshot rewritten in a thread, forced by lowering `COMPACT_AT`); close;
    reopen (snapshot + journal replay) in a fresh process; file sizes; peak RSS.
(b) plain TinyDB 4.9 doing the same calls (insert with the CivitAI id as doc_id, update by doc_id,
    get by doc_id, search for failures) with `JSONStorage` and with
    `CachingMiddleware(JSONStorage)` (flushed every 1,000 calls). Every TinyDB write copies the
    whole table, so its cost grows with the table: it runs on a smaller N and its per-call cost is
    extrapolated linearly to the civittui N (said so in the output).
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tinydb import Query, TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import JSONStorage
from tinydb.table import Document

from civittui.state import storage
from civittui.store import Store

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

FLUSH_EVERY = 1_000
REOPEN_CHILD = """
import json, sys, time
from pathlib import Path
start = time.perf_counter()
from civittui.state import storage
from civittui.store import Store
imported = time.perf_counter()
cpu = time.process_time()
store = Store.open(Path(sys.argv[1]))
opened = time.perf_counter()
cpu = time.process_time() - cpu
records = sum(store.counts().values())
store.close()
try:  # VmHWM: ru_maxrss would include the bench's own peak, inherited through fork
    status = Path("/proc/self/status").read_text()
    rss = int(status.split("VmHWM:")[1].split()[0]) / 1024
except (OSError, IndexError):
    try:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss = peak / 2**20 if sys.platform == "darwin" else peak / 1024
    except ImportError:
        rss = float("nan")
print(json.dumps({"reopen": opened - imported, "reopen@cpu": cpu, "import": imported - start,
                  "records_after_reopen": records, "reopen_rss": rss}))
"""
KINDS = ("image",) * 16 + ("file",) * 3 + ("meta",)


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far."""
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def plan(n: int, seed: int = 7) -> list[tuple[str, int, bool]]:
    """The same N calls for every contender: (kind, CivitAI id, failed?)."""
    rng = random.Random(seed)
    ids = rng.sample(range(1_000_000, 90_000_000), n)
    return [(rng.choice(KINDS), i, rng.random() < 0.15) for i in ids]


def done_fields(kind: str, i: int) -> dict[str, object]:
    name = f"{i}.jpeg" if kind == "image" else f"model_{i}.safetensors"
    return {
        "target": f"user:creator{i % 50}",
        "name": name,
        "path": f"/data/civitai/Users/creator{i % 50}/Posts/{i // 7}/{name}",
        "size": 1_000_000 + i % 9_999,
        "sha256": f"{i:064x}" if kind == "file" else None,
    }


def fail_fields(kind: str, i: int) -> dict[str, object]:
    return {
        "target": f"user:creator{i % 50}",
        "name": f"{i}.jpeg",
        "reason": "server error (HTTP 503) after 5 tries",
        "http_status": 503,
        "permanent": False,
        "retry_at": None,
        "spec": {"url": f"https://image.civitai.com/x/{i}/original=true", "width": 832},
    }


class Watch:
    """Wall and CPU time of one measured stretch (CPU time counts every thread of this
    process, so it stays meaningful on a busy machine)."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self, out: dict[str, float], key: str, per: int = 1) -> float:
        wall = time.perf_counter() - self.wall
        out[key] = wall / per
        out[key + "@cpu"] = (time.process_time() - self.cpu) / per
        return wall


def timed(out: dict[str, float], key: str, fn: Callable[[], object], per: int = 1) -> None:
    watch = Watch()
    fn()
    watch.stop(out, key, per)


STALL_TRACES: list[object] = []  # an open file when --stall-traces is given


async def loop_stall(store: Store, ids: list[tuple[str, int]]) -> dict[str, float]:
    """Keep marking items on the loop (50 per tick) while flushes run in a worker thread every
    1,000 calls, as the engine does; then the same around one compaction.

    Returns:
        worst tick delay beyond 1 ms during journal flushes and during the compaction, mean
        flush time, compaction time (seconds).
    """
    worst = 0.0
    running = True

    async def ticker() -> None:
        nonlocal worst
        while running:
            if STALL_TRACES:  # every thread's stack whenever a tick is 45 ms late
                faulthandler.dump_traceback_later(0.045, file=STALL_TRACES[0])
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            if STALL_TRACES:
                faulthandler.cancel_dump_traceback_later()
            worst = max(worst, time.perf_counter() - start - 0.001)

    async def write(slice_: list[tuple[str, int]]) -> None:
        for count, (kind, i) in enumerate(slice_, 1):
            store.mark_done(f"{kind}:{i}", **done_fields(kind, i))  # type: ignore[arg-type]
            if count % 50 == 0:
                await asyncio.sleep(0)

    # The cyclic collector pauses the loop too (a full pass walks every tracked object of the
    # process, the bench's own plan included): time its passes to tell them from the store's.
    gc_pause = {"start": 0.0, "worst": 0.0}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_pause["start"] = time.perf_counter()
        else:
            gc_pause["worst"] = max(gc_pause["worst"], time.perf_counter() - gc_pause["start"])

    gc.callbacks.append(on_gc)
    out: dict[str, float] = {}
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    flush_total = 0.0
    flushes = 0
    for start in range(0, min(len(ids), 5_000), 1_000):
        flushing = asyncio.create_task(asyncio.to_thread(store.flush))
        began = time.perf_counter()
        await write(ids[start : start + 1_000])
        await flushing
        flush_total += time.perf_counter() - began
        flushes += 1
    out["stall_journal"], worst = worst, 0.0
    out["thread_flush"] = flush_total / max(flushes, 1)
    # One compaction: the next flush seals the journal and rewrites the snapshot in a thread.
    saved = storage.COMPACT_AT
    storage.COMPACT_AT = 0.0
    store.mark_done("image:1", target=None, name="x", path="/x", size=2, sha256=None)
    began = time.perf_counter()
    await asyncio.to_thread(store.flush)
    storage.COMPACT_AT = saved
    done = asyncio.create_task(asyncio.to_thread(store._storage.wait))
    while not done.done():
        await write(ids[:1_000])
        await asyncio.to_thread(store.flush)
    out["compaction"] = time.perf_counter() - began
    out["stall_compaction"] = worst
    running = False
    await tick
    gc.callbacks.remove(on_gc)
    out["gc_pause"] = gc_pause["worst"]
    return out


def state_mb(path: Path) -> tuple[float, float]:
    """Sizes of the snapshot and of its journals, in MB."""
    journal = sum(p.stat().st_size for p in path.parent.glob(f"{path.name}.journal.*"))
    return path.stat().st_size / 1e6, journal / 1e6


def bench_civittui(n: int, folder: Path) -> dict[str, float]:
    path = folder / "civittui" / ".civittui" / "state.json"
    calls = plan(n)
    out: dict[str, float] = {}
    timed(out, "open_empty", lambda: Store.open(path).close())
    store = Store.open(path)
    flushes: dict[str, float] = {}
    flush_wall = flush_cpu = flush_max = 0.0
    gc.collect()
    watch = Watch()
    for count, (kind, i, failed) in enumerate(calls, 1):
        if failed:
            store.mark_failed(f"{kind}:{i}", **fail_fields(kind, i))  # type: ignore[arg-type]
        else:
            store.mark_done(f"{kind}:{i}", **done_fields(kind, i))  # type: ignore[arg-type]
        if count % FLUSH_EVERY == 0:
            timed(flushes, "flush", store.flush)
            flush_wall += flushes["flush"]
            flush_cpu += flushes["flush@cpu"]
            flush_max = max(flush_max, flushes["flush"])
    watch.stop(out, "insert_per_op", n)
    out["insert_no_flush"] = out["insert_per_op"] - flush_wall / n
    out["insert_no_flush@cpu"] = out["insert_per_op@cpu"] - flush_cpu / n
    out["flush_max"] = flush_max
    # Updates at full size: every failed item retried into done.
    failed_keys = [(k, i) for k, i, f in calls if f]
    watch = Watch()
    for count, (kind, i) in enumerate(failed_keys, 1):
        store.mark_done(f"{kind}:{i}", **done_fields(kind, i))  # type: ignore[arg-type]
        if count % FLUSH_EVERY == 0:
            store.flush()
    watch.stop(out, "update_per_op", len(failed_keys))
    store.flush()
    keys = [f"{kind}:{i}" for kind, i, _ in random.Random(3).sample(calls, min(n, 20_000))]
    timed(out, "lookup", lambda: [store.item(k) for k in keys], len(keys))
    for kind, i, _ in calls[:500]:
        store.mark_failed(f"{kind}:{i}", **fail_fields(kind, i))  # type: ignore[arg-type]
    timed(out, "failures", store.failures)
    timed(out, "items_target", lambda: list(store.items(target="user:creator7")))
    store.mark_done("image:1", target=None, name="x", path="/x", size=1, sha256=None)
    timed(out, "flush_full", store.flush)
    out |= asyncio.run(loop_stall(store, [(k, i) for k, i, _ in calls[1_000:]]))
    timed(out, "close", store.close)
    out["snapshot_mb"], out["journal_mb"] = state_mb(path)
    out["file_mb"] = out["snapshot_mb"] + out["journal_mb"]
    gc.collect()
    # Reopen in a fresh process: its peak RSS is what a run over this state costs.
    child = subprocess.run(
        [sys.executable, "-c", REOPEN_CHILD, str(path)], capture_output=True, check=True, text=True
    )
    out |= json.loads(child.stdout)
    return out


def bench_tinydb(n: int, folder: Path, cached: bool) -> dict[str, float]:
    name = "cached" if cached else "plain"
    path = folder / name / "db.json"
    path.parent.mkdir(parents=True)

    def storage() -> object:  # a fresh middleware per TinyDB: it keeps its cache
        return CachingMiddleware(JSONStorage) if cached else JSONStorage

    calls = plan(n)
    out: dict[str, float] = {}
    db = TinyDB(path, storage=storage())
    watch = Watch()
    for count, (kind, i, failed) in enumerate(calls, 1):
        fields = fail_fields(kind, i) if failed else done_fields(kind, i)
        doc = {"status": "failed" if failed else "done", **fields}
        db.table(kind).insert(Document(doc, doc_id=i))
        if cached and count % FLUSH_EVERY == 0:
            db.storage.flush()
    # N calls into a table growing 0 -> N: the mean call sees N/2 documents, as civittui's did.
    watch.stop(out, "insert_per_op", n)
    failed_keys = [(k, i) for k, i, f in calls if f]
    watch = Watch()
    for count, (kind, i) in enumerate(failed_keys, 1):
        db.table(kind).update({"status": "done", **done_fields(kind, i)}, doc_ids=[i])
        if cached and count % FLUSH_EVERY == 0:
            db.storage.flush()
    watch.stop(out, "update_per_op", len(failed_keys))
    keys = random.Random(3).sample(calls, min(n, 2_000))
    timed(out, "lookup", lambda: [db.table(k).get(doc_id=i) for k, i, _ in keys], len(keys))
    query = Query().status == "failed"
    timed(out, "failures", lambda: [db.table(k).search(query) for k in set(KINDS)])
    db.close()
    out["file_mb"] = path.stat().st_size / 1e6
    watch = Watch()
    db = TinyDB(path, storage=storage())
    for kind in set(KINDS):
        len(db.table(kind))  # TinyDB reads lazily: counting forces the load
    watch.stop(out, "reopen")
    db.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="items for civittui")
    parser.add_argument("--plain-n", type=int, default=2_000, help="items for TinyDB+JSONStorage")
    parser.add_argument("--cached-n", type=int, default=5_000, help="items for TinyDB+Caching")
    parser.add_argument(
        "--stall-traces", type=Path, help="write every thread's stack here when the loop stalls"
    )
    args = parser.parse_args()
    if args.stall_traces:
        STALL_TRACES.append(args.stall_traces.open("w"))
    base_rss = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours = bench_civittui(args.n, folder)
        ours_rss = peak_rss_mb()
        plain = bench_tinydb(args.plain_n, folder, cached=False)
        cached = bench_tinydb(args.cached_n, folder, cached=True)

    us, ms = 1e6, 1e3
    n = args.n
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"civittui Store, N = {n:,}  ({os.cpu_count()} CPUs, load {load:.1f},"
        f" Python {sys.version.split()[0]}); wall time (CPU time of this process)"
    )

    def both(key: str, unit: float, name: str, digits: int = 1) -> str:
        return f"{ours[key] * unit:.{digits}f} {name} (cpu {ours[key + '@cpu'] * unit:.{digits}f})"

    lines = [
        ("open empty", both("open_empty", ms, "ms")),
        ("mark_done/mark_failed", both("insert_no_flush", us, "us") + " per call"),
        (f"  + flush every {FLUSH_EVERY:,}", both("insert_per_op", us, "us") + " amortized"),
        ("update existing item", both("update_per_op", us, "us") + " amortized, with flushes"),
        ("lookup by key", both("lookup", us, "us", 2)),
        ("failures() (500 failed)", both("failures", ms, "ms")),
        ("items(target=) (1 of 50)", both("items_target", ms, "ms") + " first call builds index"),
        (
            f"flush at {n:,}",
            both("flush_full", ms, "ms") + f"; slowest {ours['flush_max'] * ms:.0f}",
        ),
        ("flush in a worker thread", f"{ours['thread_flush'] * ms:.1f} ms (1,000 changes)"),
        (
            "  asyncio loop delayed",
            f"{ours['stall_journal'] * ms:.1f} ms at most (ticks every 1 ms, marking items)",
        ),
        ("compaction in a thread", f"{ours['compaction'] * ms:.0f} ms"),
        ("  asyncio loop delayed", f"{ours['stall_compaction'] * ms:.1f} ms at most"),
        ("  longest cyclic GC pass", f"{ours['gc_pause'] * ms:.1f} ms (in those two phases)"),
        ("close", both("close", ms, "ms")),
        (f"reopen {n:,} items", both("reopen", ms, "ms") + " in a fresh process"),
        ("  records after reopen", f"{ours['records_after_reopen']:,}"),
        ("  peak RSS of that process", f"{ours['reopen_rss']:.1f} MB"),
        (
            "file size",
            f"{ours['file_mb']:.1f} MB (snapshot {ours['snapshot_mb']:.1f} MB"
            f" + journal {ours['journal_mb']:.1f} MB)",
        ),
    ]
    if ours_rss is not None and base_rss is not None:
        lines.append(("peak RSS of this bench", f"{ours_rss:.1f} MB (before: {base_rss:.1f} MB)"))
    for label, value in lines:
        print(f"  {label:26} {value}")
    print()
    print("plain TinyDB 4.9 doing the same calls. Its writes copy the whole table and JSONStorage")
    print(
        "re-reads and rewrites the file on every call, so cost grows with the table: measured on a"
    )
    print(f"smaller N, extrapolated linearly to N = {n:,} (cached lookups do not grow). CPU time.")
    print(
        f"  {'':18} {'JSONStorage':>12} {'extrap.':>11} {'Caching':>10} {'extrap.':>11}"
        f" {'civittui':>10}   civittui vs Caching"
    )
    print(
        f"  {'':18} {'N=' + format(args.plain_n, ','):>12}"
        f" {'':>11} {'N=' + format(args.cached_n, ','):>10}"
    )
    rows = [
        ("insert (mark_*)", "insert_per_op", us, "us"),
        ("update existing", "update_per_op", us, "us"),
        ("lookup by id", "lookup", us, "us"),
        ("failures (search)", "failures", ms, "ms"),
        ("reopen", "reopen", ms, "ms"),
    ]
    for label, key, unit, uname in rows:
        cpu = key + "@cpu"
        at_p = plain[cpu] * (n / args.plain_n)
        at_c = cached[cpu] * (n / args.cached_n if key != "lookup" else 1)
        ratio = at_c / ours[cpu]
        verdict = f"{ratio:.0f}x faster" if ratio >= 1.5 else f"{ours[cpu] / at_c:.1f}x the cost"
        print(
            f"  {label:18} {plain[cpu] * unit:9.1f} {uname} {at_p * unit:8.0f} {uname}"
            f" {cached[cpu] * unit:7.1f} {uname} {at_c * unit:8.0f} {uname}"
            f" {ours[cpu] * unit:7.1f} {uname}   {verdict}"
        )
    print(
        f"  file size at N = {n:,}: TinyDB {cached['file_mb'] * n / args.cached_n:.1f} MB"
        f" (extrapolated), civittui {ours['file_mb']:.1f} MB"
    )
    print("  Neither TinyDB storage survives kill -9 mid-write; tests/test_store_crash.py shows")
    print("  civittui's does.")


if __name__ == "__main__":
    main()
