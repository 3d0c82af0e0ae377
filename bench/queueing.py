"""Seconds from 100k queued URLs to the first request: `Engine.add_urls` + the first pick.

Usage: python bench/queueing.py [COUNT]   (default 100000; the issue's figure was 80 s before
the fix, the goal is under 2 s).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from civittui.config import load_config
from civittui.engine.runner import Engine
from civittui.store import Store


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        config_file = Path(tmp) / "c.toml"
        config_file.write_text("", "utf-8")
        config = load_config(config_path=config_file, options={"root": tmp}, environ={})
        store = Store.open(config.state_path)
        engine = Engine(config, store)
        urls = [f"https://civitai.com/images/{n}" for n in range(1, count + 1)]
        start, cpu = time.perf_counter(), time.process_time()
        engine.add_urls(urls)
        queued = time.perf_counter() - start
        engine._next_target()  # what the dispatcher does before the first request
        store.flush()
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
        store.close()
    # CPU time too: on a shared machine the wall clock also measures the neighbours.
    print(
        f"{count} URLs: queued in {queued:.2f} s, first target picked and state saved "
        f"after {total:.2f} s ({cpu:.2f} s of CPU)"
    )


if __name__ == "__main__":
    main()
