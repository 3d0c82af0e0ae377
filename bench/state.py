"""How the state store behaves at 100k items, against plain TinyDB doing the same work.

Run:  python bench/state.py [--n 100000] [--plain-n 2000] [--cached-n 5000]

(a) civittui `Store` in a fresh temp folder: open empty; N mixed mark_done / mark_failed calls
    (85 % done, 15 % failed, over images, model files and metadata) with a flush every 1,000
    calls, as the engine flushes about once a second; updates of existing items at full size;
    lookups by key; failures(); flush; how long a flush in a worker thread stalls an asyncio
    loop ticking every millisecond; close; reopen; file size; peak RSS.
(b) plain TinyDB 4.9 doing the same calls (insert with the CivitAI id as doc_id, update by doc_id,
    get by doc_id, search for failures) with `JSONStorage` and with
    `CachingMiddleware(JSONStorage)` (flushed every 1,000 calls). Every TinyDB write copies the
    whole table, so its cost grows with the table: it runs on a smaller N and its per-call cost is
    extrapolated linearly to the civittui N (said so in the output).
"""

from __future__ import annotations

import argparse
import asyncio
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
from civittui.store import Store
imported = time.perf_counter()
store = Store.open(Path(sys.argv[1]))
opened = time.perf_counter()
records = sum(store.counts().values())
store.close()
try:
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss = peak / 2**20 if sys.platform == "darwin" else peak / 1024
except ImportError:
    rss = float("nan")
print(json.dumps({"reopen": opened - imported, "import": imported - start,
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


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


async def loop_stall(store: Store, flushes: int) -> tuple[float, float]:
    """Run flushes in a worker thread while the loop ticks every 1 ms.

    Returns:
        (worst tick delay beyond 1 ms, mean flush time), in seconds.
    """
    worst = 0.0
    running = True

    async def ticker() -> None:
        nonlocal worst
        while running:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - start - 0.001)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    total = 0.0
    for k in range(flushes):
        store.mark_done(f"image:{k + 1}", target=None, name="x", path="/x", size=1, sha256=None)
        start = time.perf_counter()
        await asyncio.to_thread(store.flush)
        total += time.perf_counter() - start
    running = False
    await tick
    return worst, total / flushes


def bench_civittui(n: int, folder: Path) -> dict[str, float]:
    path = folder / "civittui" / ".civittui" / "state.json"
    calls = plan(n)
    out: dict[str, float] = {}
    out["open_empty"] = timed(lambda: Store.open(path).close())
    store = Store.open(path)
    flushes: list[float] = []
    gc.collect()
    start = time.perf_counter()
    for count, (kind, i, failed) in enumerate(calls, 1):
        if failed:
            store.mark_failed(f"{kind}:{i}", **fail_fields(kind, i))  # type: ignore[arg-type]
        else:
            store.mark_done(f"{kind}:{i}", **done_fields(kind, i))  # type: ignore[arg-type]
        if count % FLUSH_EVERY == 0:
            flushes.append(timed(store.flush))
    out["insert_total"] = time.perf_counter() - start
    out["insert_per_op"] = out["insert_total"] / n
    out["insert_per_op_no_flush"] = (out["insert_total"] - sum(flushes)) / n
    out["flush_max"] = max(flushes)
    out["flush_last"] = flushes[-1]
    # Updates at full size: retry every failed item into done.
    failed_keys = [(k, i) for k, i, f in calls if f]
    start = time.perf_counter()
    for count, (kind, i) in enumerate(failed_keys, 1):
        store.mark_done(f"{kind}:{i}", **done_fields(kind, i))  # type: ignore[arg-type]
        if count % FLUSH_EVERY == 0:
            store.flush()
    out["update_per_op"] = (time.perf_counter() - start) / len(failed_keys)
    store.flush()
    keys = [f"{kind}:{i}" for kind, i, _ in random.Random(3).sample(calls, min(n, 20_000))]
    out["lookup"] = timed(lambda: [store.item(k) for k in keys]) / len(keys)
    for kind, i, _ in calls[:500]:
        store.mark_failed(f"{kind}:{i}", **fail_fields(kind, i))  # type: ignore[arg-type]
    out["failures"] = timed(store.failures)
    out["items_target"] = timed(lambda: list(store.items(target="user:creator7")))
    store.mark_done("image:1", target=None, name="x", path="/x", size=1, sha256=None)
    out["flush_full"] = timed(store.flush)
    stall, mean = asyncio.run(loop_stall(store, 5))
    out["loop_stall"], out["thread_flush"] = stall, mean
    out["close"] = timed(store.close)
    out["file_mb"] = path.stat().st_size / 1e6
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
    start = time.perf_counter()
    for count, (kind, i, failed) in enumerate(calls, 1):
        fields = fail_fields(kind, i) if failed else done_fields(kind, i)
        doc = {"status": "failed" if failed else "done", **fields}
        db.table(kind).insert(Document(doc, doc_id=i))
        if cached and count % FLUSH_EVERY == 0:
            db.storage.flush()
    # N calls into a table growing 0 -> N: the mean call sees N/2 documents.
    out["insert_per_op"] = (time.perf_counter() - start) / n
    failed_keys = [(k, i) for k, i, f in calls if f]
    start = time.perf_counter()
    for count, (kind, i) in enumerate(failed_keys, 1):
        db.table(kind).update({"status": "done", **done_fields(kind, i)}, doc_ids=[i])
        if cached and count % FLUSH_EVERY == 0:
            db.storage.flush()
    out["update_per_op"] = (time.perf_counter() - start) / len(failed_keys)
    keys = random.Random(3).sample(calls, min(n, 2_000))
    out["lookup"] = timed(lambda: [db.table(k).get(doc_id=i) for k, i, _ in keys]) / len(keys)
    out["failures"] = timed(
        lambda: [db.table(k).search(Query().status == "failed") for k in set(KINDS)]
    )
    db.close()
    out["file_mb"] = path.stat().st_size / 1e6
    start = time.perf_counter()
    db = TinyDB(path, storage=storage())
    for kind in set(KINDS):
        len(db.table(kind))  # TinyDB reads lazily: count forces the load
    out["reopen"] = time.perf_counter() - start
    db.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="items for civittui")
    parser.add_argument("--plain-n", type=int, default=2_000, help="items for TinyDB+JSONStorage")
    parser.add_argument("--cached-n", type=int, default=5_000, help="items for TinyDB+Caching")
    args = parser.parse_args()
    base_rss = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours = bench_civittui(args.n, folder)
        ours_rss = peak_rss_mb()
        plain = bench_tinydb(args.plain_n, folder, cached=False)
        cached = bench_tinydb(args.cached_n, folder, cached=True)

    us, ms = 1e6, 1e3
    n = args.n
    print(f"civittui Store, N = {n:,}  ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    lines = [
        ("open empty", f"{ours['open_empty'] * ms:.1f} ms"),
        ("mark_done/mark_failed", f"{ours['insert_per_op_no_flush'] * us:.1f} us per call"),
        (
            f"  + flush every {FLUSH_EVERY:,}",
            f"{ours['insert_per_op'] * us:.1f} us per call, amortized",
        ),
        ("update existing item", f"{ours['update_per_op'] * us:.1f} us per call, amortized"),
        ("lookup by key", f"{ours['lookup'] * us:.2f} us"),
        ("failures() (500 failed)", f"{ours['failures'] * ms:.2f} ms"),
        (
            "items(target=) (1 of 50)",
            f"{ours['items_target'] * ms:.1f} ms (first call builds the index)",
        ),
        (
            f"flush at {n:,}",
            f"{ours['flush_full'] * ms:.1f} ms"
            f" (slowest while filling: {ours['flush_max'] * ms:.1f} ms)",
        ),
        (
            "flush in a worker thread",
            f"{ours['thread_flush'] * ms:.1f} ms;"
            f" asyncio loop delayed at most {ours['loop_stall'] * ms:.1f} ms",
        ),
        ("close", f"{ours['close'] * ms:.1f} ms"),
        (
            f"reopen {n:,} items",
            f"{ours['reopen'] * ms:.1f} ms in a fresh process"
            f" ({ours['records_after_reopen']:,} records; import {ours['import'] * ms:.0f} ms)",
        ),
        ("peak RSS after reopen", f"{ours['reopen_rss']:.1f} MB (fresh process)"),
        ("file size", f"{ours['file_mb']:.1f} MB"),
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
    print(
        f"smaller N, then extrapolated linearly to N = {n:,}"
        " (lookups in the cached store do not grow)."
    )
    head = f"  {'':18} {'JSONStorage':>12} {'extrap.':>11} {'Caching':>10} {'extrap.':>11}"
    head += f" {'civittui':>10}"
    print(head + "   civittui vs Caching")
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
        grows = key != "lookup"
        at_p = plain[key] * (n / args.plain_n)
        at_c = cached[key] * (n / args.cached_n if grows else 1)
        ratio = at_c / ours[key]
        verdict = f"{ratio:.0f}x faster" if ratio >= 1.5 else f"{ours[key] / at_c:.1f}x the cost"
        print(
            f"  {label:18} {plain[key] * unit:9.1f} {uname} {at_p * unit:8.0f} {uname}"
            f" {cached[key] * unit:7.1f} {uname} {at_c * unit:8.0f} {uname}"
            f" {ours[key] * unit:7.1f} {uname}   {verdict}"
        )
    print(
        f"  file size at N = {n:,}: TinyDB {cached['file_mb'] * n / args.cached_n:.1f} MB"
        f" (extrapolated), civittui {ours['file_mb']:.1f} MB"
    )
    print("  Neither TinyDB storage survives kill -9 mid-write; tests/test_store_crash.py shows")
    print("  civittui's does.")


if __name__ == "__main__":
    main()
