"""Per-target choices through the real CLI against the fake CivitAI: latest version only, one
file kind, model types and content level, kept with the target for a resumed queue and retry."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from civittui.config import load_config
from civittui.engine.choices import TargetChoices, latest_version, pick_file
from civittui.engine.runner import Engine
from civittui.store import Store
from tests.cli_helpers import Mirror, make_mirror
from tests.fakecivitai import FakeCivitai


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def _fiona(mirror: Mirror):
    """A LoRA with two versions, each a pruned SafeTensor (primary) and a full PickleTensor;
    a Checkpoint; posts at the safe and at the mature level."""
    world = mirror.fake.world
    fiona = world.add_creator("fiona")
    lora = world.add_model(fiona, "Two Kinds", "LORA", versions=["v1", "v2"], files=0)
    for version in lora.versions:
        world.add_file(version, f"{version.name}_pruned.safetensors")
        world.add_file(
            version,
            f"{version.name}_full.ckpt",
            metadata={"format": "PickleTensor", "size": "full", "fp": "fp32"},
        )
        world.add_post(fiona, version, title=f"post {version.name}", images=2, nsfw_levels=[1, 4])
    ckpt = world.add_model(fiona, "Big Base", "Checkpoint")
    world.add_post(fiona, ckpt.versions[0], title="base", images=1)
    return lora, ckpt


def _names(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file() and ".civittui" not in p.parts}


def test_get_with_choices_mirrors_only_what_was_chosen_and_keeps_the_choices(
    mirror: Mirror,
) -> None:
    lora, ckpt = _fiona(mirror)
    newest, oldest = lora.versions
    url = mirror.url("/user/fiona")
    assert (
        mirror.run(
            "get",
            url,
            "--latest",
            "--file-format",
            "PickleTensor",
            "--file-size",
            "full",
            "--types",
            "LORA,LoCon",
            "--nsfw",
            "soft",
        )
        == 0
    )
    names = _names(mirror.root)
    assert f"{newest.name}_full.ckpt" in names  # the newest version's chosen kind only
    assert f"{newest.name}_pruned.safetensors" not in names
    assert not {f"{oldest.name}_full.ckpt", f"{oldest.name}_pruned.safetensors"} & names
    assert ckpt.versions[0].files[0].name not in names  # not a chosen type
    posts = {p.id: p for p in mirror.fake.world.posts.values()}
    safe_newest = [
        i
        for p in posts.values()
        if p.model_version_id == newest.id
        for i in p.images
        if i.nsfw_level == 1
    ]
    images = {p.stem for p in mirror.root.rglob("*") if p.suffix in (".png", ".jpeg", ".webp")}
    assert images == {str(i.id) for i in safe_newest}  # newest version, soft level at most

    with Store.open(mirror.root / ".civittui" / "state.json", read_only=True) as store:
        (record,) = store.targets()
    assert record.choices == {
        "latest": True,
        "file_format": "PickleTensor",
        "file_size": "full",
        "types": ["LORA", "LoCon"],
        "nsfw": "soft",
    }
    config = load_config(
        config_path=mirror.config_file,
        options={"root": str(mirror.root), "api_base": mirror.fake.api_base},
    )
    with Store.open(config.state_path) as store:
        (event,) = Engine(config, store, resume_queue=True).targets()
    assert event.choices.describe() == "latest · PickleTensor full · LORA,LoCon · nsfw soft"


def test_a_retried_target_honours_its_kept_choices(mirror: Mirror) -> None:
    lora, _ = _fiona(mirror)
    newest, oldest = lora.versions
    fake = mirror.fake
    fake.api_faults.inject("/api/v1/models", status=404, times=1)  # the target fails as a whole
    url = mirror.url("/user/fiona")
    assert mirror.run("get", url, "--latest", "--file-format", "PickleTensor") == 1
    assert not _names(mirror.root)
    assert mirror.run("retry", "user:fiona") == 0
    names = _names(mirror.root)
    assert f"{newest.name}_full.ckpt" in names
    assert not {f"{newest.name}_pruned.safetensors", f"{oldest.name}_full.ckpt"} & names


def test_an_engine_caller_sets_choices_per_url(mirror: Mirror) -> None:
    lora, _ = _fiona(mirror)
    newest, oldest = lora.versions
    config = load_config(
        config_path=mirror.config_file,
        options={
            "root": str(mirror.root),
            "lora_dir": str(mirror.lora),
            "api_base": mirror.fake.api_base,
            "rate.min_interval": "0",
        },
    )
    with Store.open(config.state_path) as store:
        engine = Engine(config, store)
        engine.add_urls([mirror.url(f"/models/{lora.id}")], choices=TargetChoices(latest=True))
        summary = anyio.run(lambda: engine.serve(until_idle=True))
        assert engine.targets()[0].choices == TargetChoices(latest=True)
    assert summary.failed == 0
    names = _names(mirror.root)
    assert f"{newest.name}_pruned.safetensors" in names and f"{newest.name}_full.ckpt" in names
    assert not {f"{oldest.name}_pruned.safetensors", f"{oldest.name}_full.ckpt"} & names


def test_latest_and_file_pick_follow_civitai_order() -> None:
    versions = [{"id": 2, "index": 1}, {"id": 3, "index": 0}, {"id": 1}]
    assert latest_version(versions) == {"id": 3, "index": 0}
    dated = [{"id": 1, "publishedAt": "2024-01-01"}, {"id": 2, "publishedAt": "2025-01-01"}]
    assert latest_version(dated) == {"id": 2, "publishedAt": "2025-01-01"}
    files = [
        {"id": 1, "type": "Model", "primary": True, "metadata": {"format": "SafeTensor"}},
        {"id": 2, "type": "Model", "metadata": {"format": "PickleTensor", "size": "pruned"}},
        {"id": 3, "type": "Model", "metadata": {"format": "SafeTensor", "size": "full"}},
        {"id": 4, "type": "Training Data", "metadata": {"format": "Other"}},
    ]
    # format outweighs size (CivitAI's getPrimaryFile weights)
    pick = pick_file(files, TargetChoices(file_format="SafeTensor", file_size="pruned"))
    assert pick is not None and pick["id"] == 1
    pick = pick_file(files, TargetChoices(file_format="SafeTensor", file_size="full"))
    assert pick is not None and pick["id"] == 3
    pick = pick_file(files, TargetChoices(file_size="pruned"))
    assert pick is not None and pick["id"] == 2
