"""`get --downloader idm|aria2` mirrors a creator end to end (stand-in IDM, real aria2c)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civittui.layout import sanitize_filename
from tests.cli_helpers import Mirror, make_mirror, sha256_file
from tests.fakecivitai import FakeCivitai
from tests.standins import install_idman
from tests.test_aria2 import Aria2, aria2  # noqa: F401  (fixture: a real aria2c)


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def _assert_creator_mirrored(mirror: Mirror, username: str) -> None:
    fake = mirror.fake
    creator = fake.world.creator(username)
    users = mirror.root / "Users" / username
    for model in fake.world.models_of(creator):
        for version in model.versions:
            for entry in version.files:
                name = sanitize_filename(entry.name, fallback="model_file")
                path = next(users.rglob(name))
                assert sha256_file(path) == entry.content_sha256
                if model.type in ("LORA", "LoCon") and entry.type == "Model":
                    placed = next((mirror.lora / "Users" / username).rglob(name))
                    assert sha256_file(placed) == entry.content_sha256
                    assert placed.with_suffix(".json").exists()
    assert not list(mirror.root.rglob("*.part"))


def test_idm_mirrors_a_creator(mirror: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    idman = install_idman(mirror.tmp / "idm bin", monkeypatch)
    mirror.config_file.write_text(
        f"downloader = \"idm\"\nidm_path = '{idman.exe}'\nidm_timeout = 60\n", "utf-8"
    )
    assert mirror.run("get", mirror.url("/user/alice")) == 0
    _assert_creator_mirrored(mirror, "alice")
    commands = idman.commands()
    enqueued = [c for c in commands if c and c[0] == "/d"]
    starts = [c for c in commands if c == ["/s"]]
    files = [
        f
        for m in mirror.fake.world.models_of(mirror.fake.world.creator("alice"))
        for v in m.versions
        for f in v.files
    ]
    assert len(enqueued) == len(files)
    assert starts and len(starts) <= len(enqueued)
    for command in enqueued:
        assert command[2] == "/p" and command[4] == "/f" and command[6:] == ["/n", "/a"]
        assert Path(command[3]).is_absolute()
        assert mirror.fake.api_key not in json.dumps(command)
        assert "/model/" in command[1]  # the presigned storage URL, not CivitAI's download route


def test_idm_missing_is_a_setup_error(mirror: Mirror, capsys) -> None:
    mirror.config_file.write_text(
        f"downloader = \"idm\"\nidm_path = '{mirror.tmp / 'nowhere' / 'IDMan.exe'}'\n", "utf-8"
    )
    assert mirror.run("get", mirror.url("/user/alice")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "IDM" in err


def test_aria2_mirrors_a_creator(mirror: Mirror, aria2: Aria2) -> None:  # noqa: F811
    mirror.config_file.write_text(
        f'downloader = "aria2"\naria2_url = "{aria2.url}"\naria2_secret = "{aria2.secret}"\n',
        "utf-8",
    )
    assert mirror.run("get", mirror.url("/user/alice")) == 0
    _assert_creator_mirrored(mirror, "alice")
    assert aria2.results() == []
    for request in mirror.fake.requests:
        if request.server == "files":
            assert "authorization" not in request.headers


def test_aria2_unreachable_is_a_setup_error(mirror: Mirror, capsys) -> None:
    mirror.config_file.write_text(
        'downloader = "aria2"\naria2_url = "http://127.0.0.1:9/jsonrpc"\n', "utf-8"
    )
    assert mirror.run("get", mirror.url("/user/alice")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "aria2 RPC" in err
