"""How fast prompts are filtered, and `refilter` over a big tree of image metadata files.

Run:  python bench/filters.py [--prompts 100000] [--naive-sample 2000] [--files 100000] [--dir D]

(a) N generated prompts (15-45 tokens each, drawn from the shipped lists' exact terms and a few
    thousand neutral tags, with A1111 weights, nested brackets, underscores, odd case, groups like
    ``(a, b:1.2)``, LoRA tags, BREAK and line breaks) through `FilterSet.apply` with the shipped
    lists, cache cold at the start, on one core. The reference is the naive loop the seed's
    scripts used: split at commas, strip, lower-case, ``any(fnmatch(tok, term) for term in
    terms)`` over every term of every list. It is far slower, so it runs on a sample of the
    same prompts and its rate is extrapolated to N (said so in the output). The naive loop does
    less work (no brackets, weights, BREAK or line breaks, no rebuilt prompt), so the ratio is a
    lower bound.
(b) M image metadata files (the engine's shape, 2-space indented JSON, 1,000 per folder) under a
    temporary folder (``--dir`` picks where: use the disk you care about). Reference: a plain loop
    that reads, parses and writes back every file (orjson, in place, no rename), i.e. the
    least a rewrite of every file can cost. Then `refilter` twice: first run rewrites every file
    (temp file + rename), second run finds nothing to change (read + parse + filter only).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import orjson

from civittui.filters import FilterSet, shipped_filters_dir
from civittui.prompt_tools import iter_sidecars, refilter

COLOURS = "red blue green black white pink purple yellow orange brown grey silver golden".split()
THINGS = "hair eyes ribbon sky flower background lips nails wings tail horns cape".split()
PLACES = "outdoors indoors beach forest city street classroom bedroom cafe rooftop".split()
OTHERS = [
    "1girl", "1boy", "solo", "smile", "looking at viewer", "long hair", "short hair", "blush",
    "upper body", "full body", "from side", "from above", "sitting", "standing", "open mouth",
    "holding cup", "night", "sunset", "cherry blossoms", "depth of field", "rain", "snow",
    "메이드", "미소", "笑顔", "窓の光", "hatsune miku \\(vocaloid\\)", "saber \\(fate\\)",
]  # fmt: skip


def neutral_vocabulary(rng: random.Random) -> list[str]:
    words = [f"{c} {t}" for c in COLOURS for t in THINGS] + PLACES + OTHERS
    words += [f"{rng.choice(COLOURS)} {t} {i}" for i in range(2000) for t in [rng.choice(THINGS)]]
    return words


def list_terms() -> list[str]:
    """Every term line of the shipped lists, as written."""
    terms = []
    for path in sorted(shipped_filters_dir().glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                terms.append(line)
    return terms


def decorate(rng: random.Random, word: str) -> str:
    roll = rng.random()
    if roll < 0.3:
        word = word.replace(" ", "_")
    if rng.random() < 0.15:
        word = word.title()
    if roll > 0.75:
        word = f"({word}:{rng.choice(['1.1', '1.2', '1.3', '0.8'])})"
    elif roll > 0.68:
        word = rng.choice(["({})", "(({}))", "[{}]", "{{{}}}"]).format(word)
    return word


def make_prompts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    listed = [t for t in list_terms() if "*" not in t]
    listed += ["score_9", "score_8_up", "score_7_up", "source_anime", "red dress", "white shirt"]
    neutral = neutral_vocabulary(rng)
    prompts = []
    for _ in range(n):
        words = [
            decorate(rng, rng.choice(listed if rng.random() < 0.35 else neutral))
            for _ in range(rng.randint(15, 45))
        ]
        if rng.random() < 0.1:  # one weight over a group: "(a, b:1.2)"
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = "(" + words[i], words[i + 1] + ":1.2)"
        prompt = ", ".join(words)
        extra = rng.random()
        if extra < 0.08:
            prompt = prompt.replace(", ", "\nBREAK\n", 1)
        elif extra < 0.15:
            prompt = prompt.replace(", ", ",\n", 2)
        if rng.random() < 0.25:
            prompt += (
                f", <lora:{rng.choice(['detail', 'style_x', 'maid'])}_v{rng.randint(1, 9)}:0.8>"
            )
        prompts.append(prompt)
    return prompts


def naive_filter(prompt: str, terms: list[str]) -> str:
    kept = []
    for tok in prompt.split(","):
        tok = tok.strip().lower()
        if tok and not any(fnmatch.fnmatch(tok, term) for term in terms):
            kept.append(tok)
    return ", ".join(kept)


def bench_prompts(n: int, sample: int) -> None:
    prompts = make_prompts(n)
    tokens = sum(p.count(",") + 1 for p in prompts)
    print(f"(a) {n:,} generated prompts, {tokens / n:.1f} tokens each on average")
    fs = FilterSet.load()
    start = time.perf_counter()
    removed = 0
    for prompt in prompts:
        removed += len(fs.apply(prompt).removed)
    ours = time.perf_counter() - start
    print(
        f"    FilterSet.apply (shipped lists, cold cache): {ours:.2f} s, {n / ours:,.0f} prompts/s"
    )
    start = time.perf_counter()
    for prompt in prompts:
        fs.apply(prompt)
    warm = time.perf_counter() - start
    print(
        f"    second pass, warm token cache:               {warm:.2f} s, {n / warm:,.0f} prompts/s"
    )

    terms = [t.lower().replace("_", " ") for t in list_terms()]
    subset = prompts[:sample]
    start = time.perf_counter()
    for prompt in subset:
        naive_filter(prompt, terms)
    naive = (time.perf_counter() - start) / len(subset) * n
    print(
        f"    naive any(fnmatch) loop over {len(terms)} terms: measured on {len(subset):,} "
        f"prompts, extrapolated to {n:,}: {naive:.1f} s, {n / naive:,.0f} prompts/s"
    )
    print(f"    ratio: {naive / ours:.0f}x the naive loop (cold cache), {naive / warm:.0f}x (warm)")


def write_tree(root: Path, files: int, prompts: list[str]) -> None:
    for i in range(files):
        folder = root / "Users" / f"user{i // 10_000}" / f"model {i // 1000}"
        if i % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        image_id = 10_000_000 + i
        data = {
            "id": image_id,
            "postId": 500_000 + i // 20,
            "url": f"https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA/{image_id}/original=true",
            "username": f"user{i // 10_000}",
            "createdAt": "2024-05-01T10:00:00.000Z",
            "width": 832,
            "height": 1216,
            "nsfwLevel": 1 + i % 4,
            "baseModel": "Pony",
            "modelVersionIds": [900_000 + i // 1000],
            "meta": {
                "prompt": prompts[i % len(prompts)],
                "negativePrompt": "score_4, score_5, lowres, (worst quality:1.4), watermark",
                "seed": 1_000_000_007 * i % 4_294_967_291,
                "steps": 28,
                "sampler": "DPM++ 2M Karras",
                "cfgScale": 7,
                "Size": "832x1216",
            },
            "prompt": prompts[i % len(prompts)],
            "negativePrompt": "score_4, score_5, lowres, (worst quality:1.4), watermark",
        }
        (folder / f"{image_id}.txt").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))


def bench_refilter(files: int, where: str | None) -> None:
    base = Path(tempfile.mkdtemp(prefix="civittui-bench-", dir=where))
    try:
        write_tree(base, files, make_prompts(5000, seed=11))
        paths = list(iter_sidecars(base))
        print(f"(b) {len(paths):,} image metadata files under {base}")
        start = time.perf_counter()
        for path in paths:
            data = orjson.loads(path.read_bytes())
            path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        plain = time.perf_counter() - start
        print(
            f"    plain read + parse + write (reference): {plain:.2f} s, "
            f"{files / plain:,.0f} files/s"
        )
        fs = FilterSet.load()
        start = time.perf_counter()
        report = refilter(base, fs)
        first = time.perf_counter() - start
        print(
            f"    refilter, every file rewritten ({report.changed:,}): {first:.2f} s, "
            f"{files / first:,.0f} files/s = {plain / first:.2f}x the reference speed"
        )
        start = time.perf_counter()
        report = refilter(base, fs)
        second = time.perf_counter() - start
        print(
            f"    refilter again, nothing to change ({report.unchanged:,} unchanged): "
            f"{second:.2f} s, "
            f"{files / second:,.0f} files/s"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=2_000)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dir", default=None, help="where to create the temporary tree")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as promised
    bench_prompts(args.prompts, args.naive_sample)
    if args.files:
        bench_refilter(args.files, args.dir)


if __name__ == "__main__":
    main()
