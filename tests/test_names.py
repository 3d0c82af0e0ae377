"""Every name civittui writes is claimed: a creator's file name never lands on another thing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import Mirror, make_mirror, sha256_file
from tests.fakecivitai import FakeCivitai


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def test_file_names_shaped_like_civittuis_own_never_overwrite_them(mirror: Mirror) -> None:
    fake = mirror.fake
    world = fake.world
    creator = world.add_creator("mallory")
    first = world.add_model(creator, "Plain", "LORA", files=1)
    version = first.versions[0]
    post = world.add_post(creator, version, title="Shots", images=2, kinds=["jpeg"])
    shot, other = post.images
    # Names the creator chose that are civittui's own in that folder (image, sidecar), a card
    # beside a LoRA file in lora_dir, and a model named like a version's meta file.
    names = [f"{shot.id}.jpeg", f"{other.id}.txt", "card.safetensors", "card.json"]
    names.append("CARD.preview.png")
    # Distinct metadata: CivitAI tells a version's files apart by ?type=&format=&size=&fp=.
    kinds = [("full", "fp32"), ("full", "bf16"), ("pruned", "fp32"), ("pruned", "bf16")]
    kinds.append(("full", "fp16"))
    hostile = [
        world.add_file(
            version,
            name,
            primary=False,
            metadata={"format": "SafeTensor", "size": size, "fp": fp},
        )
        for name, (size, fp) in zip(names, kinds, strict=True)
    ]
    sneaky = world.add_model(creator, f"model_meta_v{version.id}.json", "LORA", files=1)
    url = mirror.url("/user/mallory")
    assert mirror.run("get", url) == 0

    users = mirror.root / "Users" / "mallory"
    folder = users / "Plain"
    assert (folder / f"{shot.id}.jpeg").read_bytes() == fake.images.read(shot.uuid)
    assert json.loads((folder / f"{other.id}.txt").read_text("utf-8"))["id"] == other.id
    meta = json.loads((users / f"model_meta_v{version.id}.json").read_text("utf-8"))
    assert meta["id"] == version.id
    # Every file is on disk whole, under a name of its own.
    by_hash = {sha256_file(p): p for p in mirror.root.rglob("*") if p.is_file()}
    for entry in [*version.files, *sneaky.versions[0].files]:
        assert entry.content_sha256 in by_hash, entry.name
    lora = mirror.lora / "Users" / "mallory" / "Plain"
    card = json.loads((lora / "card.json").read_text("utf-8"))
    assert isinstance(card, dict) and "activation text" in card  # the card, not a file
    assert sha256_file(lora / "card.safetensors") == hostile[2].content_sha256
    # The same names on the next run: nothing is fetched again, nothing moves.
    before = sorted(str(p) for p in mirror.tmp.rglob("*"))
    fake.clear_requests()
    assert mirror.run("get", url) == 0
    assert not [r for r in fake.requests if r.server in ("files", "images")]
    assert sorted(str(p) for p in mirror.tmp.rglob("*")) == before


@pytest.mark.parametrize("primary_first", [True, False])
def test_the_primary_file_keeps_the_plain_name(mirror: Mirror, primary_first: bool) -> None:
    fake = mirror.fake
    world = fake.world
    creator = world.add_creator("lykon")
    model = world.add_model(creator, "DreamShaper", "Checkpoint", files=0)
    version = model.versions[0]
    full = {"format": "SafeTensor", "size": "full", "fp": "fp32"}
    if primary_first:
        primary = world.add_file(version, "dreamshaper.safetensors", primary=True)
        other = world.add_file(version, "dreamshaper.safetensors", primary=False, metadata=full)
    else:
        other = world.add_file(version, "dreamshaper.safetensors", primary=False, metadata=full)
        primary = world.add_file(version, "dreamshaper.safetensors", primary=True)
    url = mirror.url(f"/models/{model.id}")
    assert mirror.run("get", url) == 0
    folder = mirror.root / "Users" / "lykon" / "DreamShaper"
    assert sha256_file(folder / "dreamshaper.safetensors") == primary.content_sha256
    assert sha256_file(folder / f"dreamshaper ({other.id}).safetensors") == other.content_sha256
    fake.clear_requests()
    assert mirror.run("get", url) == 0
    assert not [r for r in fake.requests if r.server == "files"]
