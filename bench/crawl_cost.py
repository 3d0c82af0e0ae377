"""API requests civittui spends on a creator vs the floor the API allows.

Generates a creator on the fake CivitAI (default: 40 models x 3 versions, 2,000 images), mirrors
it with `civittui get` (min_interval 0), counts the API requests the fake server recorded, and
compares them with:
- the floor: list calls needed (`/models?username=` pages of 100, `/images?username=` pages of
  200) + one presigned-URL resolve per file;
- a per-item crawler (what the original scripts did): `/models/{id}` per model,
  `/images?modelVersionId=` pages per version, one resolve per file.

    python bench/crawl_cost.py [--models 40] [--versions 3] [--images 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from civittui.cli import main  # noqa: E402
from tests.fakecivitai import FakeCivitai  # noqa: E402
from tests.fakecivitai.data import make_big_creator  # noqa: E402


def run(models: int, versions: int, images: int) -> None:
    with FakeCivitai() as fake, tempfile.TemporaryDirectory() as tmp:
        creator = make_big_creator(fake.world, models=models, versions=versions, images=images)
        files = sum(len(v.files) for m in fake.world.models_of(creator) for v in m.versions)
        config = Path(tmp) / "config.toml"
        config.write_text("", "utf-8")
        argv = [
            "get",
            f"{fake.api_base}/user/{creator.username}",
            "--config", str(config),
            "--root", str(Path(tmp) / "mirror"),
            "--lora-dir", str(Path(tmp) / "Lora"),
            "--api-base", fake.api_base,
            "--api-key", fake.api_key,
            "--min-interval", "0",
            "-q",
        ]  # fmt: skip
        started = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            code = main(argv)
        seconds = time.perf_counter() - started
        api = [r for r in fake.requests if r.server == "api"]
        by_route: dict[str, int] = {}
        for request in api:
            route = request.path.rsplit("/", 1)[0] if request.path[-1].isdigit() else request.path
            by_route[route] = by_route.get(route, 0) + 1
        floor = math.ceil(models / 100) + math.ceil(images / 200) + files
        pages_per_version = max(1, math.ceil(images / (models * versions) / 200))
        per_item = models + models * versions * pages_per_version + files
        print(f"creator: {models} models x {versions} versions, {files} files, {images} images")
        print(f"exit code {code}, {seconds:.1f} s at min_interval 0")
        routes = ", ".join(f"{k} {v}" for k, v in sorted(by_route.items()))
        print(f"civittui API requests: {len(api)}  ({routes})")
        print(f"floor (list pages + one resolve per file): {floor}")
        print(f"per-item crawler (model + version image pages + resolves): {per_item}")
        print(f"civittui / floor = {len(api) / floor:.3f}x   (aim <= 1.1x)")
        print(f"per-item / civittui = {per_item / len(api):.2f}x more calls")
        print(
            f"at the default 1.5 s gate: civittui {len(api) * 1.5 / 60:.1f} min of API time, "
            f"per-item {per_item * 1.5 / 60:.1f} min"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    run(args.models, args.versions, args.images)
