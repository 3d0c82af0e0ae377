"""`refilter` and `tokens` on a tree that `civittui get` produced from the fake CivitAI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civittui.prompts.filters import FilterSet, normalize, shipped_filters_dir
from tests.cli_helpers import Mirror, make_mirror
from tests.fakecivitai import FakeCivitai


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def _sidecars(root: Path) -> list[dict]:
    return [json.loads(p.read_text("utf-8")) for p in root.rglob("*.txt") if p.stem.isdigit()]


def test_tokens_then_refilter_with_an_added_term(mirror: Mirror, capsys) -> None:
    assert mirror.run("get", mirror.url("/user/alice")) == 0
    capsys.readouterr()
    assert mirror.run("tokens", "--top", "500", "--uncategorized", "--json") == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts and all(row["category"] is None for row in counts)
    assert counts == sorted(counts, key=lambda r: -r["count"])
    token = counts[0]["token"]  # the most frequent uncategorized token

    assert mirror.run("refilter", "--dry-run") == 0
    assert " 0 would change" in capsys.readouterr().out

    # a user's list dir: the shipped lists plus a new category holding that token
    user_filters = mirror.tmp / "filters"
    user_filters.mkdir()
    for shipped in shipped_filters_dir().glob("*.txt"):
        (user_filters / shipped.name).write_bytes(shipped.read_bytes())
    (user_filters / "mine.txt").write_text(f"# my noise\n{token}\n", "utf-8")
    with mirror.config_file.open("a", encoding="utf-8") as handle:
        handle.write(f"filters_dir = '{user_filters}'\n")
    before = {p: p.read_bytes() for p in mirror.root.rglob("*.txt") if p.stem.isdigit()}
    assert mirror.run("refilter", "--dry-run") == 0
    assert {p: p.read_bytes() for p in before} == before  # dry run writes nothing
    capsys.readouterr()
    assert mirror.run("refilter") == 0
    out = capsys.readouterr().out
    changed = int(out.split(":")[1].split()[0])
    digest = FilterSet.load(user_filters).digest
    stale = [d for d in _sidecars(mirror.root) if d["filtered"]["filters"] != digest]
    assert changed > 0 and changed == len(before) - len(stale)
    assert not stale, [(d["id"], d["prompt"], d["filtered"]) for d in stale]
    hit = 0
    for data in _sidecars(mirror.root):
        kept = data["filtered"]["prompt"] or ""
        assert token not in {normalize(t) for t in kept.split(",")}
        if "mine" in data["filtered"]["removed"]:
            hit += 1
            assert {normalize(t) for t in data["filtered"]["removed"]["mine"]} == {token}
    assert hit == counts[0]["count"] or hit > 0
    # a second refilter has nothing to do
    assert mirror.run("refilter") == 0
    assert " 0 changed" in capsys.readouterr().out


def test_tokens_csv(mirror: Mirror, capsys) -> None:
    assert mirror.run("get", mirror.url("/user/carol/images")) == 0
    csv_path = mirror.tmp / "tokens.csv"
    assert mirror.run("tokens", "--top", "10", "--csv", str(csv_path)) == 0
    lines = csv_path.read_text("utf-8-sig").splitlines()  # BOM: Excel opens it as UTF-8
    assert lines[0].lower().startswith("token") and 1 < len(lines) <= 11
