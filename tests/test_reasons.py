"""Failure reasons name what differs, not only that a digest does."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import Mirror, make_mirror
from tests.fakecivitai import FakeCivitai


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def test_short_body_reason_names_both_sizes_before_the_hash(mirror: Mirror, capsys) -> None:
    fake = mirror.fake
    model = next(m for m in fake.world.models.values() if m.name == "Erin Style")
    entry = model.versions[0].files[0]
    served = entry.size
    # The API announces a file 300 times bigger (and its hash) than the body the CDN sends.
    entry.size = served * 300
    entry.hashes = {**entry.hashes, "SHA256": "AB" * 32}
    assert mirror.run("get", mirror.url(f"/models/{model.id}"), "-q") != 0
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if f"file:{entry.id}" in line)
    assert f"got {served:,} bytes of {served * 300:,}: SHA256 mismatch" in line
