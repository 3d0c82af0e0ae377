"""`refilter` and `tokens` over a tree of saved image metadata files."""

from __future__ import annotations

import csv
import errno
import json
import os
from pathlib import Path

import pytest

from civittui.prompts.filters import FilterSet
from civittui.prompts.tools import (
    TokenCount,
    count_tokens,
    format_refilter_report,
    format_token_table,
    iter_sidecars,
    refilter,
    write_tokens_csv,
)

TERMS = {"sex": ["nude"], "clothes": ["* dress", "bikini"], "etc": ["masterpiece", "score_*"]}


def sidecar(image_id: int, prompt: str | None, negative: str | None = None) -> dict[str, object]:
    """An image metadata file's content, keys in the order the engine writes them."""
    return {
        "id": image_id,
        "postId": 77,
        "url": f"https://image.civitai.com/x/{image_id}.jpeg",
        "username": "alice",
        "createdAt": "2024-05-01T10:00:00.000Z",
        "width": 832,
        "height": 1216,
        "nsfwLevel": 1,
        "baseModel": "Pony",
        "modelVersionIds": [5],
        "meta": {"prompt": prompt, "seed": 1, "Clip skip": "2"},
        "prompt": prompt,
        "negativePrompt": negative,
    }


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A download root with valid, malformed and unrelated files."""
    files = {
        "post1": tmp_path / "Posts" / "Maid café" / "101.txt",
        "post2": tmp_path / "Posts" / "Maid café" / "102.txt",
        "user1": tmp_path / "Users" / "alice" / "Maid Model" / "201.txt",
        "user2": tmp_path / "Users" / "alice" / "메이드" / "202.txt",
        "bad_json": tmp_path / "Posts" / "broken" / "301.txt",
        "bad_list": tmp_path / "Posts" / "broken" / "302.txt",
        "no_prompt": tmp_path / "Posts" / "broken" / "303.txt",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    indented = json.dumps(sidecar(101, "masterpiece, 1girl, red dress, smile"), indent=2)
    files["post1"].write_text(indented + "\n", encoding="utf-8")
    files["post2"].write_bytes(
        json.dumps(sidecar(102, "score_9, nude, 1girl", "nude, blurry")).encode()
    )
    files["user1"].write_text(
        json.dumps(sidecar(201, None), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    files["user2"].write_text(
        json.dumps(sidecar(202, "1girl, 한복, 미소, bikini"), ensure_ascii=False), encoding="utf-8"
    )
    files["bad_json"].write_bytes(b'{"id": 301, "prompt": "nude, a"')
    files["bad_list"].write_bytes(b'["nude"]')
    files["no_prompt"].write_bytes(b'{"id": 303}')
    # not image metadata: skipped without a word
    (tmp_path / "Users" / "alice" / "model_meta_v5.txt").write_text("Model: x", encoding="utf-8")
    (tmp_path / "Users" / "alice" / "Maid Model" / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / ".civittui").mkdir()
    (tmp_path / ".civittui" / "1.txt").write_text("{}", encoding="utf-8")
    (tmp_path / "Users" / "alice" / ".trash").mkdir()
    (tmp_path / "Users" / "alice" / ".trash" / "9.txt").write_text("{}", encoding="utf-8")
    (tmp_path / "Other").mkdir()
    (tmp_path / "Other" / "8.txt").write_text("{}", encoding="utf-8")
    return files


def test_iter_sidecars_finds_only_image_metadata(tmp_path: Path, tree: dict[str, Path]) -> None:
    assert sorted(iter_sidecars(tmp_path)) == sorted(tree.values())


def test_refilter_rewrites_then_leaves_alone(tmp_path: Path, tree: dict[str, Path]) -> None:
    fs = FilterSet.from_terms(TERMS)
    malformed_bytes = {k: tree[k].read_bytes() for k in ("bad_json", "bad_list", "no_prompt")}
    seen: list[tuple[int, int | None]] = []

    report = refilter(tmp_path, fs, progress=lambda done, total: seen.append((done, total)))

    assert (report.scanned, report.changed, report.unchanged) == (7, 4, 0)
    assert sorted(report.changes) == sorted(tree[k] for k in ("post1", "post2", "user1", "user2"))
    assert {p: r.split(" ")[0] for p, r in report.malformed} == {
        tree["bad_json"]: "not",
        tree["bad_list"]: "not",
        tree["no_prompt"]: "no",
    }
    assert seen[0] == (0, 7) and seen[-1] == (7, 7)
    for key, before in malformed_bytes.items():
        assert tree[key].read_bytes() == before

    post1 = json.loads(tree["post1"].read_text(encoding="utf-8"))
    assert list(post1) == [*sidecar(0, None), "filtered"]
    assert post1["filtered"] == {
        "prompt": "1girl, smile",
        "removed": {"etc": ["masterpiece"], "clothes": ["red dress"]},
        "filters": fs.digest,
    }
    assert post1["meta"] == {
        "prompt": "masterpiece, 1girl, red dress, smile",
        "seed": 1,
        "Clip skip": "2",
    }
    raw1 = tree["post1"].read_text(encoding="utf-8")
    assert raw1.startswith('{\n  "id": 101,') and raw1.endswith("}\n")

    post2 = json.loads(tree["post2"].read_bytes())
    assert post2["filtered"] == {
        "prompt": "1girl",
        "negativePrompt": "blurry",
        "removed": {"etc": ["score_9"], "sex": ["nude"]},
        "removedNegative": {"sex": ["nude"]},
        "filters": fs.digest,
    }
    assert b"\n" not in tree["post2"].read_bytes()
    assert json.loads(tree["user1"].read_bytes())["filtered"]["prompt"] is None
    user2 = tree["user2"].read_text(encoding="utf-8")
    assert '"prompt":"1girl, 한복, 미소"' in user2

    again = refilter(tmp_path, fs)
    assert (again.scanned, again.changed, again.unchanged) == (7, 0, 4)


def test_refilter_after_list_change_and_dry_run(tmp_path: Path, tree: dict[str, Path]) -> None:
    refilter(tmp_path, FilterSet.from_terms(TERMS))
    wider = FilterSet.from_terms({**TERMS, "mood": ["smile", "미소"]})
    before = {p: p.read_bytes() for p in iter_sidecars(tmp_path)}

    dry = refilter(tmp_path, wider, dry_run=True)

    assert dry.dry_run and dry.changed == 4
    assert {p: p.read_bytes() for p in iter_sidecars(tmp_path)} == before
    assert "4 would change, 0 unchanged, 3 malformed" in format_refilter_report(dry)

    real = refilter(tmp_path, wider)
    assert real.changed == 4 and real.changes == dry.changes
    filtered = json.loads(tree["user2"].read_bytes())["filtered"]
    assert filtered["prompt"] == "1girl, 한복"
    assert filtered["removed"] == {"clothes": ["bikini"], "mood": ["미소"]}
    assert filtered["filters"] == wider.digest != FilterSet.from_terms(TERMS).digest


def test_refilter_keeps_original_bytes_when_a_write_fails(
    tmp_path: Path, tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk fills up at the rename over one file; the others are written.
    original = tree["post1"].read_bytes()
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == tree["post1"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    report = refilter(tmp_path, FilterSet.from_terms(TERMS))

    assert [path for path, _ in report.failed] == [tree["post1"]]
    assert "cannot write" in report.failed[0][1]
    assert tree["post1"].read_bytes() == original
    assert report.changed == 3
    assert "1 failed" in format_refilter_report(report)
    assert list(tmp_path.rglob("*.tmp")) == []  # the failed write's temp is gone too


def test_count_tokens(tmp_path: Path, tree: dict[str, Path]) -> None:
    tree["user1"].write_text(
        json.dumps(sidecar(201, "(1girl:1.2), Red_Dress, <lora:Maid_X:0.8>", "nude")),
        encoding="utf-8",
    )
    fs = FilterSet.from_terms(TERMS)

    counts = count_tokens(tmp_path, fs)
    assert counts[:2] == [TokenCount("1girl", 4, None), TokenCount("red dress", 2, "clothes")]
    by_token = {c.token: c for c in counts}
    assert by_token["nude"] == TokenCount("nude", 1, "sex")
    assert by_token["<lora:maid_x>"].count == 1
    assert by_token["한복"] == TokenCount("한복", 1, None)
    assert sum(c.count for c in counts) == 14

    assert count_tokens(tmp_path, fs, top=1) == [TokenCount("1girl", 4, None)]
    with_negative = {c.token: c.count for c in count_tokens(tmp_path, fs, include_negative=True)}
    assert with_negative["nude"] == 3 and with_negative["blurry"] == 1
    uncategorized = count_tokens(tmp_path, fs, uncategorized_only=True)
    assert uncategorized and all(c.category is None for c in uncategorized)
    assert {c.token for c in uncategorized} == {"1girl", "smile", "<lora:maid_x>", "한복", "미소"}

    table = format_token_table(counts[:2]).splitlines()
    assert table == ["4  -        1girl", "2  clothes  red dress"]


def test_tokens_csv(tmp_path: Path) -> None:
    counts = [TokenCount("1girl", 4, None), TokenCount("빨간 드레스", 2, "clothes")]
    out = tmp_path / "tokens.csv"
    write_tokens_csv(counts, out)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["token", "count", "category"],
        ["1girl", "4", ""],
        ["빨간 드레스", "2", "clothes"],
    ]


def test_empty_root(tmp_path: Path) -> None:
    report = refilter(tmp_path, FilterSet.from_terms(TERMS))
    assert (report.scanned, report.changed, report.malformed) == (0, 0, [])
    assert count_tokens(tmp_path, FilterSet.from_terms(TERMS)) == []
