"""How fast prompts are filtered, and `refilter` over a big tree of image metadata files.

Run:  python bench/filters.py [--prompts 100000] [--naive-sample 2000] [--files 100000] [--dir D]

(r) N prompts of a realistic corpus through `FilterSet.apply` (shipped lists, every cache cold at
    the start, one core). Real prompts repeat: a creator posts a series of images under one
    prompt (or one with a phrase or two changed), and prompts are assembled from stock phrases
    ("masterpiece, best quality", "score_9, score_8_up", a house negative prompt). The corpus is
    built from the real prompts in the test suite (`tests/test_filters.py`, the fake server's
    `tests/fakecivitai/prompts.py`): 45 % repeat an earlier prompt (recent ones more often),
    30 % edit an earlier one (1-3 phrases swapped or added), 25 % are new, ~30 phrases drawn
    from the pool of real phrases (common phrases more often); see `realistic_prompts`.
(a) N generated prompts (15-45 tokens each, drawn from the shipped lists' exact terms and a few
    thousand neutral tags, with A1111 weights, nested brackets, underscores, odd case, groups like
    ``(a, b:1.2)``, LoRA tags, BREAK and line breaks) through `FilterSet.apply` with the shipped
    lists, cache cold at the start, on one core. The reference is the naive loop the seed's
    scripts used: split at commas, strip, lower-case, ``any(fnmatch(tok, term) for term in
    terms)`` over every term of every list. It is far slower, so it runs on a sample of the
    same prompts and its rate is extrapolated to N (said so in the output). The naive loop does
    less work (no brackets, weights, BREAK or line breaks, no rebuilt prompt), so the ratio is a
    lower bound.
(c) The fast paths checked, not timed: on the distinct prompts of (r) and the first of (a),
    `FilterSet.apply` (prompt cache, piece cache, one pass over cached marks) gives exactly what
    the general path gives token by token (`apply(prompt, enabled=every category)`).
(b) M image metadata files (the engine's shape, 2-space indented JSON, 1,000 per folder) under a
    temporary folder (``--dir`` picks where: use the disk you care about). Reference: a plain loop
    that reads, parses and writes back every file (orjson, in place, no rename), i.e. the
    least a rewrite of every file can cost, and the same loop writing each file atomically
    (temp file + ``os.replace``, as `refilter` does): on ext4 a rename over a file waits for the
    new data to reach the disk, which is what bounds `refilter` (it overlaps those waits on 8
    threads). Then `refilter` twice: first run rewrites every file
    (temp file + rename), second run finds nothing to change (read + parse + filter only).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson

from civittui.prompts.filters import FilterSet, shipped_filters_dir
from civittui.prompts.tools import RefilterReport, iter_sidecars, refilter

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


def real_texts() -> list[str]:
    """The real prompts in the test suite, positives and negatives."""
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from tests.fakecivitai.prompts import PROMPTS  # noqa: PLC0415 - bench-only data
    from tests.test_filters import REAL_PROMPTS  # noqa: PLC0415

    return [p for pair in PROMPTS for p in pair if p] + [p for p, _, _ in REAL_PROMPTS]


def real_phrases() -> list[str]:
    """The comma phrases of the real prompts (those written with ``、`` stay whole prompts)."""
    phrases = []
    for text in real_texts():
        if "、" in text or "，" in text:
            continue
        # Phrases are split at commas outside brackets: a weighted group "(a, b:1.2)" is one
        # phrase, as a person copies it.
        depth, start = 0, 0
        for i, char in enumerate(text + ","):
            depth += (char in "([{") - (char in ")]}")
            if (char == "," and depth <= 0) or char == "\n":
                if text[start:i].strip():
                    phrases.append(text[start:i].strip())
                start, depth = i + 1, max(depth, 0)
    return phrases


def realistic_prompts(n: int, seed: int = 5) -> list[str]:
    """N prompts that repeat as a creator's do: whole prompts, edits of them, stock phrases."""
    rng = random.Random(seed)
    # Phrases ranked by how many real prompts use them: stock phrases ("masterpiece",
    # "1girl") are everywhere, most are rare (Zipf-like weights by rank).
    pool = [p for p, _ in Counter(real_phrases()).most_common()]
    ideographic = [t for t in real_texts() if "、" in t or "，" in t]
    weights = [1 / (rank + 1) for rank in range(len(pool))]

    def phrases(k: int) -> list[str]:
        # people vary case, underscores and weights of plain words, not of tags and groups
        return [decorate(rng, p) if rng.random() < 0.2 and p.isalnum() else p for p in
                rng.choices(pool, weights, k=k)]  # fmt: skip

    prompts: list[str] = []
    for _ in range(n):
        roll = rng.random()
        if prompts and roll < 0.45:
            # recent prompts come back most: an image series
            prompts.append(prompts[-1 - min(int(rng.expovariate(1 / 20)), len(prompts) - 1)])
            continue
        if prompts and roll < 0.75:
            words = prompts[-1 - min(int(rng.expovariate(1 / 50)), len(prompts) - 1)].split(", ")
            for _ in range(rng.randint(1, 3)):
                words[rng.randrange(len(words))] = phrases(1)[0]
            if rng.random() < 0.3:
                words.insert(rng.randrange(len(words) + 1), phrases(1)[0])
        elif rng.random() < 0.05:
            words = [rng.choice(ideographic)]  # a prompt written in Japanese or Chinese
        else:
            words = phrases(rng.randint(22, 38))
        prompts.append(", ".join(words))
    return prompts


def naive_filter(prompt: str, terms: list[str]) -> str:
    kept = []
    for tok in prompt.split(","):
        tok = tok.strip().lower()
        if tok and not any(fnmatch.fnmatch(tok, term) for term in terms):
            kept.append(tok)
    return ", ".join(kept)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call (CPU time is the cost on a machine shared with others)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_prompts(n: int, sample: int) -> None:
    _, loop_cpu = timed(lambda: [None for _ in range(3_000_000)])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine speed: {loop_cpu / 3e6 * 1e9:.1f} ns CPU per step of [None for _ in range(n)]"
        f" (for comparing figures across machines), load {load:.1f}"
    )
    terms = [t.lower().replace("_", " ") for t in list_terms()]
    corpora = [
        ("(r)", "prompts of the realistic corpus", realistic_prompts(n)),
        ("(a)", "generated prompts, all different", make_prompts(n)),
    ]
    for mark, what, prompts in corpora:
        tokens = sum(p.count(",") + 1 for p in prompts)
        distinct = len(set(prompts))
        print(
            f"{mark} {n:,} {what}: {tokens / n:.1f} tokens each on average,"
            f" {distinct:,} distinct prompts"
        )
        fs = FilterSet.load()

        def ours(fs: FilterSet = fs, prompts: list[str] = prompts) -> None:
            for prompt in prompts:
                fs.apply(prompt)

        cold = timed(ours)
        warm = timed(ours)
        for label, (wall, cpu) in (("caches cold", cold), ("caches warm", warm)):
            print(
                f"    FilterSet.apply, shipped lists, {label}: {wall:.2f} s wall, {cpu:.2f} s CPU"
                f" = {n / cpu:,.0f} prompts/s of CPU"
            )
        subset = prompts[:sample]
        naive_wall, naive_cpu = timed(lambda s=subset: [naive_filter(p, terms) for p in s])
        naive_cpu *= n / len(subset)
        print(
            f"    naive any(fnmatch) loop over {len(terms)} terms: measured on {len(subset):,}"
            f" prompts, extrapolated to {n:,}: {naive_cpu:.1f} s CPU ="
            f" {n / naive_cpu:,.0f} prompts/s"
        )
        print(
            f"    ratio: {naive_cpu / cold[1]:.0f}x the naive loop (caches cold), "
            f"{naive_cpu / warm[1]:.0f}x (warm)"
        )


def check_fast_paths(n: int, limit: int = 30_000) -> None:
    """(c): the fast paths' results equal the general path's, removed tokens and their order too."""
    fs = FilterSet.load()
    for mark, prompts in (("(r)", realistic_prompts(n)), ("(a)", make_prompts(n))):
        distinct = list(dict.fromkeys(prompts))[:limit]
        differ = 0
        for prompt in distinct:
            fast, general = fs.apply(prompt), fs.apply(prompt, enabled=fs.categories)
            key = (fast.prompt, list(fast.removed.items()))
            differ += key != (general.prompt, list(general.removed.items()))
        print(
            f"(c) {mark} {len(distinct):,} distinct prompts: the fast paths and the general path"
            f" differ on {differ}"
        )
        assert not differ


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
        print(f"(b) {files:,} image metadata files under {base}")

        def plain_rewrite() -> None:
            for path in iter_sidecars(base):
                data = orjson.loads(path.read_bytes())
                path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))

        def atomic_rewrite() -> None:
            for path in iter_sidecars(base):
                data = orjson.loads(path.read_bytes())
                temp = path.with_name(path.name + ".tmp")
                temp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
                os.replace(temp, path)

        fs = FilterSet.load()
        reports: list[RefilterReport] = []
        runs = [
            ("plain walk + read + parse + write in place (reference)", plain_rewrite),
            ("same, written atomically (temp file + rename)", atomic_rewrite),
            ("refilter, every file rewritten", lambda: reports.append(refilter(base, fs))),
            ("refilter again, nothing to change", lambda: reports.append(refilter(base, fs))),
        ]
        reference = 0.0
        for label, run in runs:
            wall, cpu = timed(run)
            reference = reference or wall
            print(
                f"    {label}: {wall:.2f} s wall ({cpu:.2f} s CPU), {files / wall:,.0f} files/s, "
                f"{reference / wall:.2f}x the reference speed"
            )
        assert reports[0].changed == files and reports[1].unchanged == files
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
    check_fast_paths(args.prompts)
    if args.files:
        bench_refilter(args.files, args.dir)


if __name__ == "__main__":
    main()
