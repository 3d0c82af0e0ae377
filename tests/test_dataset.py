"""`civittui dataset` on a tree `get` produced: linked images, plain captions, trigger words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import Mirror, make_mirror
from tests.fakecivitai import FakeCivitai


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def _sidecar(root: Path, image_id: int) -> dict:
    path = next(p for p in root.rglob(f"{image_id}.txt") if ".civittui" not in p.parts)
    return json.loads(path.read_text("utf-8"))


def test_dataset_links_images_with_filtered_prompts_and_trigger_words(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    world = mirror.fake.world
    ivy = world.add_creator("ivy")
    model = world.add_model(ivy, "Ivy Style", "LORA", versions=["v1", "v2"])
    newest, oldest = model.versions
    oldest.trained_words = ["ivy girl", "green dress"]
    newest.trained_words = ["ivy v2"]
    shown = world.add_post(ivy, oldest, title="old", images=3, kinds=["png", "jpeg", "mp4"])
    bare = world.add_post(ivy, newest, title="bare", images=1, kinds=["png"], with_meta=False)
    carol_post = world.posts_of(world.creator("carol"))[0]
    assert mirror.run("get", mirror.url(f"/models/{model.id}")) == 0
    assert mirror.run("get", mirror.url(f"/posts/{carol_post.id}")) == 0

    out = mirror.tmp / "train"
    capsys.readouterr()
    assert mirror.run("dataset", str(out), mirror.url(f"/models/{model.id}"), "--trigger") == 0
    printed = capsys.readouterr().out
    stills = [i for i in shown.images if i.type == "image"]
    expected = {f"{i.id}.txt" for i in stills} | {
        f"{i.id}{next(mirror.root.rglob(f'{i.id}.*[!t]')).suffix}" for i in stills
    }
    assert {p.name for p in out.iterdir()} == expected | {"_summary.txt"}
    for image in stills:
        caption = (out / f"{image.id}.txt").read_text("utf-8")
        prompt = _sidecar(mirror.root, image.id)["filtered"]["prompt"]
        assert caption == f"ivy girl, green dress, {' '.join(prompt.split())}\n"
        linked = next(p for p in out.iterdir() if p.stem == str(image.id) and p.suffix != ".txt")
        source = next(p for p in mirror.root.rglob(linked.name) if ".civittui" not in p.parts)
        assert linked.stat().st_ino == source.stat().st_ino  # hard linked, not copied
    assert str(bare.images[0].id) not in {p.stem for p in out.iterdir()}  # no prompt: left out
    summary = (out / "_summary.txt").read_text("utf-8")
    assert summary.strip() == printed.strip()
    assert "2 image(s) with captions" in summary
    assert "1 video(s) left out" in summary
    assert "1 image(s) left out: no prompt" in summary
    assert "tokens per caption: min" in summary

    capsys.readouterr()
    assert mirror.run("dataset", str(mirror.tmp / "all"), "--json") == 0
    every = json.loads(capsys.readouterr().out)
    assert every["images"] == 2 + len(carol_post.images)  # every target's images, no trigger
    assert every["with_trigger"] == 0 and every["videos"] == 1
    caption = (mirror.tmp / "all" / f"{stills[0].id}.txt").read_text("utf-8")
    assert not caption.startswith("ivy girl")


def test_dataset_without_a_mirror_is_one_line_and_exit_2(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    assert mirror.run("dataset", str(mirror.tmp / "train")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("civittui: no mirror at") and len(err.splitlines()) == 1
