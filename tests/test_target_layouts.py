"""Each target has its own layout: what another target fetched is linked into it, not skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import Mirror, make_mirror, sha256_file
from tests.fakecivitai import FakeCivitai


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def test_a_post_fetched_before_its_model_is_linked_into_the_model_folder(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = mirror.fake
    gina = fake.world.add_creator("gina")
    model = fake.world.add_model(gina, "Linked Style", "Checkpoint")
    version = model.versions[0]
    entry = version.files[0]
    post = fake.world.add_post(gina, version, title="first look", images=2, kinds=["png"])
    image_ids = {str(image.id) for image in post.images}

    assert mirror.run("get", mirror.url(f"/posts/{post.id}")) == 0
    capsys.readouterr()
    assert mirror.run("status", mirror.url(f"/models/{model.id}"), "--json") == 1
    (audit,) = json.loads(capsys.readouterr().out)
    elsewhere = {g["key"] for g in audit["gaps"] if g["kind"] == "elsewhere"}
    assert elsewhere == {f"file:{entry.id}", *(f"image:{i}" for i in image_ids)}
    fake.clear_requests()
    assert mirror.run("get", mirror.url(f"/models/{model.id}")) == 0

    fetched_again = [
        r.path
        for r in [*fake.requests_to("files"), *fake.requests_to("images")]
        if any(i in r.path for i in image_ids) or entry.key in r.path
    ]
    assert fetched_again == []  # linked, not downloaded a second time
    folder = next(p for p in mirror.root.rglob("Linked Style") if p.is_dir())
    names = {p.name for p in folder.iterdir()}
    assert entry.name in names
    assert image_ids <= {Path(n).stem for n in names if n.endswith(".png")}
    assert image_ids <= {Path(n).stem for n in names if n.endswith(".txt")}  # their sidecars
    assert sha256_file(folder / entry.name) == entry.content_sha256
    posted = next(p for p in mirror.root.rglob(entry.name) if p.parent != folder)
    assert (folder / entry.name).stat().st_ino == posted.stat().st_ino  # a hard link
    assert mirror.run("status", mirror.url(f"/models/{model.id}")) == 0
    assert mirror.run("status", mirror.url(f"/posts/{post.id}")) == 0
