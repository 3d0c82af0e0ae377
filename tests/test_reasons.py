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
    # The CDN's Content-Length already says so: refused before a byte is written.
    assert f"offers {served:,} bytes of {served * 300:,}: not the expected file" in line


async def test_a_short_delivered_file_names_both_sizes_before_the_hash(tmp_path: Path) -> None:
    """What IDM or aria2 delivered is checked the same way (no Content-Length to go by)."""
    from civittui.download.verify import verify_delivered
    from civittui.errors import DownloadError

    path = tmp_path / "lora.safetensors"
    path.write_bytes(b"x" * 262_144)
    with pytest.raises(DownloadError) as caught:
        await verify_delivered(path, expected_sha256="AB" * 32, expected_size=228_588_904)
    assert "got 262,144 bytes of 228,588,904" in str(caught.value.reason)
    assert not path.exists()  # nothing bad keeps the final name
