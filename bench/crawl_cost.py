"""API requests civittui spends on a creator vs the per-version scheme and the floor.

Generates a creator on the fake CivitAI (default: 40 models x 3 versions, 3,000 images in one
showcase post per version, plus posts of two images without meta, i.e. with no detected
resources and outside the 20-image showcase), mirrors it with `civittui get` (min_interval 0),
counts the API requests the fake server recorded, and compares them with:
- the per-version scheme (what the original scripts did): `/models?username=` pages, then
  `/images?modelVersionId=V&username=U` pages for every version, one resolve per file. Its
  listings return images posted to V *or detecting V*, so strictly it also needs a `post.get`
  for posts whose images all detect V; that is not counted here (a lower bound);
- the floor of the rule "an image goes to the version its post was posted to": the list pages
  (`/models?username=` of 100, `/images?username=` of 200) + one resolve per file, i.e. every
  post placed by a showcase image and no post lookup.

    python bench/crawl_cost.py [--models 40] [--versions 3] [--images 3000] [--bare 24 400]
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


def _route(path: str) -> str:
    if "/trpc/" in path:
        return path
    return path.rsplit("/", 1)[0] + "/{id}" if path[-1].isdigit() else path


def run(models: int, versions: int, images: int, bare: int) -> None:
    with FakeCivitai() as fake, tempfile.TemporaryDirectory() as tmp:
        world = fake.world
        creator = make_big_creator(
            world, models=models, versions=versions, images=images, bare_posts=bare
        )
        all_versions = [v for m in world.models_of(creator) for v in m.versions]
        files = sum(len(v.files) for v in all_versions)
        own = [im for p in world.posts_of(creator) for im in p.images]
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
            by_route[_route(request.path)] = by_route.get(_route(request.path), 0) + 1
        mirrored = len(list((Path(tmp) / "mirror").rglob("*.png")))
        model_pages = math.ceil(models / 100)
        floor = model_pages + math.ceil(len(own) / 200) + files
        listed = [
            sum(1 for im in own if world.posted_to(im) == v.id or v.id in im.model_version_ids)
            for v in all_versions
        ]
        per_version = model_pages + sum(max(1, math.ceil(n / 200)) for n in listed) + files
        print(
            f"creator: {models} models x {versions} versions, {files} files, {len(own)} images "
            f"in {len(world.posts_of(creator))} posts ({bare} posts without meta)"
        )
        print(f"exit code {code}, {mirrored} of {len(own)} images mirrored, {seconds:.1f} s")
        routes = ", ".join(f"{k} {v}" for k, v in sorted(by_route.items()))
        print(f"  civittui:    {len(api):5d} API requests  ({routes})")
        print(
            f"  per-version: {per_version:5d}  (model pages + one listing per version + resolves)"
        )
        print(f"  floor:       {floor:5d}  (list pages + one resolve per file, no post lookup)")
        print(
            f"  civittui / floor = {len(api) / floor:.3f}x, "
            f"per-version / civittui = {per_version / len(api):.2f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--bare", type=int, nargs="+", default=[0, 24, 400])
    args = parser.parse_args()
    for bare_posts in args.bare:
        run(args.models, args.versions, args.images, bare_posts)
