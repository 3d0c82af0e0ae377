"""`civittui get` on every model, version, post and creator of the captured corpus (tests/real/).

The API answers from responses captured from the live CivitAI by other projects (see
tests/real/SOURCES); `tests/real/replay.py` says what the replay derives and alters. Model files
are synthetic bytes whose SHA256 the replayed API announces instead of the captured one, so
"verified" means: the bytes on disk hash to what the replayed API said.

"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from civittui.cli import main
from tests.cli_helpers import sha256_file
from tests.real.replay import CORPUS_DIR, ReplayCivitai, load_corpus

CORPUS = load_corpus()
LORA_TYPES = {"LORA", "LoCon", "DoRA"}


@dataclass
class ReplayMirror:
    replay: ReplayCivitai
    tmp: Path

    @property
    def root(self) -> Path:
        return self.tmp / "mirror"

    @property
    def lora(self) -> Path:
        return self.tmp / "Lora"

    def get(self, *paths: str) -> int:
        config = self.tmp / "config.toml"
        config.touch()
        return main(
            [
                "get",
                *(self.replay.api_base + path for path in paths),
                "--config",
                str(config),
                "--root",
                str(self.root),
                "--lora-dir",
                str(self.lora),
                "--api-base",
                self.replay.api_base,
                "--api-key",
                self.replay.api_key,
                "--min-interval",
                "0",
            ]
        )


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplayMirror]:
    for name in ("CIVITAI_API_KEY", "CIVITTUI_CONFIG", "CIVITTUI_ROOT", "CIVITTUI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    with ReplayCivitai(CORPUS) as replay:
        yield ReplayMirror(replay, tmp_path)


# -- checks on the tree ----------------------------------------------------------------------


def _verified_file(under: Path, entry: dict[str, Any]) -> Path:
    """The file on disk under `under` whose bytes hash to what the replayed API said."""
    want = str(entry["hashes"]["SHA256"]).lower()
    found = [p for p in under.rglob("*") if p.is_file() and sha256_file(p) == want]
    assert found, f"file {entry['id']} ({entry['name']}) with SHA256 {want[:12]}… not under {under}"
    return found[0]


def _check_version(
    mirror: ReplayMirror, username: str, model_type: str, version: dict[str, Any]
) -> None:
    users = mirror.root / "Users" / username
    for entry in version.get("files") or []:
        _verified_file(users, entry)
        if model_type in LORA_TYPES:
            placed = _verified_file(mirror.lora / "Users" / username, entry)
            assert placed.with_suffix(".json").is_file(), f"no WebUI card next to {placed}"
    meta = json.loads((users / f"model_meta_v{version['id']}.json").read_text("utf-8"))
    assert meta["id"] == version["id"]
    assert (users / f"model_meta_v{version['id']}.txt").is_file()


def _check_images(root: Path, images: list[dict[str, Any]]) -> None:
    """Every image is on disk beside its `{id}.txt` sidecar, which keeps the served meta."""
    for image in images:
        sidecars = list(root.rglob(f"{image['id']}.txt"))
        assert sidecars, f"image {image['id']} (post {image.get('postId')}) is not on disk"
        media = [p for p in sidecars[0].parent.glob(f"{image['id']}.*") if p.suffix != ".txt"]
        assert len(media) == 1 and media[0].stat().st_size > 0
        data = json.loads(sidecars[0].read_text("utf-8"))
        assert data["id"] == image["id"] and data["postId"] == image.get("postId")
        meta = image.get("meta")
        if isinstance(meta, dict) and meta.get("prompt"):
            assert data["prompt"] == meta["prompt"]
        if meta is None:
            assert data["meta"] is None and data["prompt"] is None


def _version_images(replay: ReplayCivitai, username: str, version_id: int) -> list[dict[str, Any]]:
    query = {"modelVersionId": [str(version_id)], "username": [username]}
    return replay.images_matching(query)


# -- the corpus itself -----------------------------------------------------------------------


def test_every_captured_file_is_listed_in_sources_and_read() -> None:
    sources = (CORPUS_DIR / "SOURCES").read_text("utf-8")
    names = sorted(p.name for p in CORPUS_DIR.glob("*.json"))
    assert names and names == sorted(CORPUS.files_read)
    for name in names:
        assert f"`{name}`" in sources, f"{name} has no line in tests/real/SOURCES"


def test_replayed_files_carry_the_hashes_of_the_served_bytes(mirror: ReplayMirror) -> None:
    # Guards the one alteration the replay makes: what it announces is what it serves.
    replay = mirror.replay
    model = replay.models[4468]
    files = [f for v in model["modelVersions"] for f in v["files"]]
    assert len(files) == 4
    for entry in files:
        assert replay.files.sha256(str(entry["id"])) == entry["hashes"]["SHA256"].lower()
        assert replay.files.size(str(entry["id"])) == entry["sizeKB"] * 1024


# -- targets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", sorted(CORPUS.models))
def test_every_model_is_mirrored_whole(mirror: ReplayMirror, model_id: int) -> None:
    model = mirror.replay.models[model_id]
    username = model["creator"]["username"]
    assert mirror.get(f"/models/{model_id}") == 0
    for version in model["modelVersions"]:
        _check_version(mirror, username, model["type"], version)
        _check_images(mirror.root, _version_images(mirror.replay, username, version["id"]))


@pytest.mark.parametrize("model_id", sorted(CORPUS.models))
def test_every_version_of_a_model_is_mirrored(mirror: ReplayMirror, model_id: int) -> None:
    # One run with every version URL of the model (DreamShaper has 31).
    model = mirror.replay.models[model_id]
    username = model["creator"]["username"]
    versions = model["modelVersions"]
    urls = [f"/models/{model_id}?modelVersionId={v['id']}" for v in versions]
    assert mirror.get(*urls) == 0
    for version in versions:
        _check_version(mirror, username, model["type"], version)
        _check_images(mirror.root, _version_images(mirror.replay, username, version["id"]))


@pytest.mark.parametrize("version_id", sorted(CORPUS.versions))
def test_every_captured_model_version_is_mirrored(mirror: ReplayMirror, version_id: int) -> None:
    version = mirror.replay.versions[version_id]
    username = version["creator"]["username"]
    assert mirror.get(f"/model-versions/{version_id}") == 0
    _check_version(mirror, username, version["model"]["type"], version)
    _check_images(mirror.root, _version_images(mirror.replay, username, version_id))


def _same_named_groups(model: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Per version, the files sharing the primary file's name (primary first), when 2 or more."""
    groups = []
    for version in model["modelVersions"]:
        primary = next((f for f in version["files"] if f.get("primary")), None)
        if primary is None:
            continue
        same = [f for f in version["files"] if f["name"] == primary["name"]]
        if len(same) > 1:
            groups.append([primary, *(f for f in same if f is not primary)])
    return groups


SAME_NAMED = [m for m in sorted(CORPUS.models) if _same_named_groups(CORPUS.models[m])]


@pytest.mark.parametrize("model_id", SAME_NAMED)
def test_the_primary_of_same_named_files_keeps_the_plain_name(
    mirror: ReplayMirror, model_id: int
) -> None:
    model = mirror.replay.models[model_id]
    users = mirror.root / "Users" / model["creator"]["username"]
    assert mirror.get(f"/models/{model_id}") == 0
    wrong = []
    for primary, *others in _same_named_groups(model):
        if _verified_file(users, primary).name != primary["name"]:
            wrong.append(primary["id"])
        stem, dot, ext = primary["name"].rpartition(".")
        wrong += [
            other["id"]
            for other in others
            if _verified_file(users, other).name != f"{stem} ({other['id']}){dot}{ext}"
        ]
    assert not wrong, f"files not named as CivitAI's primary/other rule says: {wrong}"


POSTS = sorted({i["postId"] for i in CORPUS.images.values() if isinstance(i.get("postId"), int)})


@pytest.mark.parametrize("post_id", POSTS)
def test_every_post_is_mirrored_with_its_sidecars(mirror: ReplayMirror, post_id: int) -> None:
    assert mirror.get(f"/posts/{post_id}") == 0
    images = mirror.replay.images_matching({"postId": [str(post_id)]})
    assert images
    _check_images(mirror.root / "Posts", images)


def _model_creators() -> list[str]:
    return sorted({model["creator"]["username"] for model in CORPUS.models.values()})


def _image_creators() -> list[str]:
    return sorted({str(i["username"]) for i in CORPUS.images.values() if i.get("username")})


@pytest.mark.parametrize("username", _model_creators())
def test_every_creator_is_mirrored_whole(mirror: ReplayMirror, username: str) -> None:
    """`/user/NAME`: every model, version and file of the creator (design.md §4)."""
    replay = mirror.replay
    assert mirror.get(f"/user/{username}") == 0
    for model in replay.models.values():
        if model["creator"]["username"] != username:
            continue
        for version in model["modelVersions"]:
            _check_version(mirror, username, model["type"], version)


@pytest.mark.parametrize("username", _image_creators())
def test_every_image_a_creator_posted_is_mirrored(mirror: ReplayMirror, username: str) -> None:
    """`/user/NAME/images`: every image the creator posted, whatever model it is attached to."""
    assert mirror.get(f"/user/{username}/images") == 0
    _check_images(mirror.root / "Posts", mirror.replay.images_matching({"username": [username]}))
