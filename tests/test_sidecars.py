"""Metadata files, the WebUI card and LoRA placement, on a real temporary filesystem."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from civittui import sidecars
from civittui.sidecars import (
    LORA_TYPES,
    html_to_text,
    human_size,
    image_sidecar,
    is_lora_family,
    place_lora,
    sd_version,
    version_meta,
    version_meta_text,
    version_page_url,
    webui_card,
    write_json_atomic,
    write_preview,
    write_text_atomic,
)

# Shapes as civitai-api.md §2.3 / §4.1 / §5.2 show them.
IMAGE: dict[str, Any] = {
    "id": 30748752,
    "url": "https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA/6220fa0f/original=true/6220fa0f.jpeg",
    "hash": "U9D8%cIU03Rk02?F$$WE0gs,?GSg~B9ut6sl",
    "width": 832,
    "height": 1216,
    "nsfwLevel": "None",
    "nsfw": False,
    "browsingLevel": 1,
    "type": "image",
    "createdAt": "2024-09-22T12:54:15.000Z",
    "postId": 6877551,
    "stats": {"likeCount": 14},
    "meta": {
        "prompt": "1girl, maid, 한국어",
        "negativePrompt": "lowres",
        "seed": 123456789,
        "steps": 28,
        "civitaiResources": [{"type": "lora", "weight": 0.8, "modelVersionId": 786644}],
    },
    "username": "someuser",
    "baseModel": "Pony",
    "modelVersionIds": [786644],
}

FILTERED = {"prompt": "1girl, 한국어", "removed": {"clothes": ["maid"]}, "filters": "sha256:abc"}

MODEL: dict[str, Any] = {
    "id": 703211,
    "name": "Maid Classic",
    "description": "<p>Use weight ~1.0 &amp; enjoy</p><p>Line<br>two</p>",
    "type": "LORA",
    "nsfw": False,
    "mode": None,
    "tags": ["clothing", "maid"],
    "creator": {"username": "someuser", "image": None},
    "stats": {"downloadCount": None},
    "modelVersions": [{"id": 786644}],
}

VERSION: dict[str, Any] = {
    "id": 786644,
    "modelId": 703211,
    "name": "v1.0 pony",
    "baseModel": "Pony",
    "publishedAt": "2024-08-30T15:38:14.770Z",
    "trainedWords": ["maid, maid apron", " white headdress "],
    "description": "<ul><li><p>first</p></li><li><p>second</p></li></ul>",
    "model": {"name": "Maid Classic", "type": "LORA", "nsfw": False, "poi": False},
    "files": [
        {
            "id": 690001,
            "name": "maid_classic_pony.safetensors",
            "sizeKB": 223105.61,
            "type": "Model",
            "primary": True,
            "metadata": {"format": "SafeTensor", "fp": "fp16"},
            "hashes": {"SHA256": "0A1B2C3D4E5F" + "0" * 52, "AutoV2": "0A1B2C3D4E"},
            "downloadUrl": "https://civitai.com/api/download/models/786644?type=Model&token=SECRET",
        }
    ],
    "images": [{"url": "https://image.civitai.com/x/y/original=true/26887852.jpeg"}],
    "downloadUrl": "https://civitai.com/api/download/models/786644?token=SECRET",
}

PAGE = version_page_url(703211, 786644)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ---------------------------------------------------------------------------------------------
# {imageId}.txt


def test_image_sidecar_shape() -> None:
    data = image_sidecar(IMAGE, filtered=FILTERED)
    assert list(data) == [
        "id", "postId", "url", "username", "createdAt", "width", "height", "nsfwLevel",
        "baseModel", "modelVersionIds", "meta", "prompt", "negativePrompt", "filtered",
    ]  # fmt: skip
    assert data["id"] == IMAGE["id"]
    assert data["postId"] == IMAGE["postId"]
    assert data["meta"] == IMAGE["meta"]
    assert data["prompt"] == IMAGE["meta"]["prompt"]
    assert data["negativePrompt"] == "lowres"
    assert data["filtered"] == FILTERED
    assert data["modelVersionIds"] == [786644]
    json.dumps(data)  # serializable as is


def test_image_sidecar_without_meta() -> None:
    image = {k: v for k, v in IMAGE.items() if k != "meta"}
    data = image_sidecar(image, filtered=FILTERED)
    assert data["meta"] is None
    assert data["prompt"] is None
    assert data["negativePrompt"] is None
    data = image_sidecar({**IMAGE, "meta": None, "modelVersionIds": None}, filtered=FILTERED)
    assert data["meta"] is None
    assert data["modelVersionIds"] == []


def test_image_sidecar_unwraps_legacy_meta_and_ignores_odd_prompt_types() -> None:
    wrapped = {**IMAGE, "meta": {"id": 30748752, "meta": {"prompt": "p", "negativePrompt": 5}}}
    data = image_sidecar(wrapped, filtered=FILTERED)
    assert data["meta"] == {"prompt": "p", "negativePrompt": 5}
    assert data["prompt"] == "p"
    assert data["negativePrompt"] is None


def test_image_sidecar_does_not_alias_inputs() -> None:
    data = image_sidecar(IMAGE, filtered=FILTERED)
    data["meta"]["prompt"] = "changed"
    data["filtered"]["prompt"] = "changed"
    assert IMAGE["meta"]["prompt"] != "changed"
    assert FILTERED["prompt"] != "changed"


# ---------------------------------------------------------------------------------------------
# Atomic writers


def test_write_json_atomic_round_trip_keeps_unicode_readable(tmp_path: Path) -> None:
    path = tmp_path / "30748752.txt"
    data = image_sidecar(IMAGE, filtered=FILTERED)
    write_json_atomic(path, data)
    raw = path.read_bytes()
    assert "한국어".encode() in raw  # not \\uXXXX escapes
    assert b"\r\n" not in raw
    assert raw.endswith(b"\n")
    assert json.loads(raw.decode("utf-8")) == data
    assert _leftovers(tmp_path) == []


def test_write_json_atomic_keeps_old_content_when_serialization_fails(tmp_path: Path) -> None:
    path = tmp_path / "meta.json"
    write_json_atomic(path, {"old": True})
    before = path.read_bytes()
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_atomic_write_failure_at_rename_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "meta.txt"
    write_text_atomic(path, "old\n")

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(errno.EIO, "simulated I/O error")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="simulated"):
        write_text_atomic(path, "new\n")
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.txt"]


def test_write_text_atomic_overwrites_and_honours_umask(tmp_path: Path) -> None:
    path = tmp_path / "model_meta_v1.txt"
    write_text_atomic(path, "one\n")
    write_text_atomic(path, "two — 두\n")
    assert path.read_text(encoding="utf-8") == "two — 두\n"
    if os.name != "nt":
        umask = os.umask(0)
        os.umask(umask)
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert _leftovers(tmp_path) == []


def test_write_into_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_text_atomic(tmp_path / "missing" / "x.txt", "x")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# model_meta_v{v}.json / .txt


def test_version_meta_carries_version_and_model_fields() -> None:
    meta = version_meta(VERSION, MODEL)
    for key in ("id", "modelId", "name", "baseModel", "trainedWords", "images", "description"):
        assert meta[key] == VERSION[key]
    served_file = {k: v for k, v in VERSION["files"][0].items() if k != "downloadUrl"}
    assert {k: v for k, v in meta["files"][0].items() if k != "downloadUrl"} == served_file
    model = meta["model"]
    for key in ("id", "name", "type", "nsfw", "tags", "creator", "description", "mode", "stats"):
        assert model[key] == MODEL[key]
    assert model["poi"] is False  # from the version's own `model` object
    assert "modelVersions" not in model
    json.dumps(meta)


def test_version_meta_strips_token_parameters_and_copies() -> None:
    meta = version_meta(VERSION, MODEL)
    text = json.dumps(meta)
    assert "SECRET" not in text
    assert "token" not in text
    assert meta["files"][0]["downloadUrl"] == (
        "https://civitai.com/api/download/models/786644?type=Model"
    )
    assert meta["downloadUrl"] == "https://civitai.com/api/download/models/786644"
    meta["files"][0]["name"] = "changed"
    assert VERSION["files"][0]["name"] == "maid_classic_pony.safetensors"
    assert "SECRET" in VERSION["downloadUrl"]  # the input is untouched


def test_version_meta_leaves_prose_mentioning_a_token_alone() -> None:
    prose = "<p>Get it at https://ex.com/dl?token=public and read the token docs.</p>"
    meta = version_meta({**VERSION, "description": prose}, MODEL)
    assert meta["description"] == prose


def test_version_meta_fills_model_id_from_the_model() -> None:
    version = {k: v for k, v in VERSION.items() if k not in ("modelId", "model")}
    meta = version_meta(version, MODEL)
    assert meta["modelId"] == MODEL["id"]
    assert meta["model"]["name"] == MODEL["name"]


def test_version_meta_text_has_what_a_person_looks_for() -> None:
    text = version_meta_text(version_meta(VERSION, MODEL), page_url=PAGE)
    size = round(223105.61 * 1024)
    for needle in (
        "Maid Classic",
        "v1.0 pony",
        "LORA",
        "Pony",
        "maid, maid apron",
        "white headdress",
        "maid_classic_pony.safetensors",
        f"{size} bytes",
        human_size(size),
        "0A1B2C3D4E5F" + "0" * 52,
        "https://civitai.com/models/703211?modelVersionId=786644",
        "2024-08-30T15:38:14.770Z",
        "Use weight ~1.0 & enjoy",
        "- first\n  - second",
        "someuser",
    ):
        assert needle in text, needle
    assert "<p>" not in text
    assert "SECRET" not in text


def test_version_meta_text_survives_sparse_data() -> None:
    text = version_meta_text({"id": 5}, page_url=version_page_url(1, 5))
    assert "(none)" in text
    assert "https://civitai.com/models/1?modelVersionId=5" in text


def test_human_size() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(3 * 1024**3) == "3.0 GiB"
    assert human_size(5 * 1024**5) == "5120.0 TiB"


def test_version_page_url() -> None:
    assert version_page_url(1, 2) == "https://civitai.com/models/1?modelVersionId=2"
    assert version_page_url(1, 2, site="http://127.0.0.1:99/") == (
        "http://127.0.0.1:99/models/1?modelVersionId=2"
    )


# ---------------------------------------------------------------------------------------------
# html_to_text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        (None, ""),
        ("", ""),
        ("plain", "plain"),
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("<p>a<br>b<br/>c</p>", "a\nb\nc"),
        ("<p>a &amp; b &lt;3 &#x1F600; &quot;q&quot;</p>", 'a & b <3 😀 "q"'),
        ("<p>  lots   of\n\n  space </p>", "lots of space"),
        ("<ul><li><p>x</p></li><li>y</li></ul>", "- x\n- y"),
        ("<h2>Title</h2><p>body</p>", "Title\n\nbody"),
        ('<p><a href="https://ex.com/a">site</a></p>', "site (https://ex.com/a)"),
        ('<a href="https://ex.com/a">https://ex.com/a</a>', "https://ex.com/a"),
        ("<p>ok</p><script>alert(1)</script><style>p{}</style>", "ok"),
        ("<pre>  keep\n    indent</pre>", "keep\n    indent"),
        ("<p>한국어 <strong>설명</strong></p>", "한국어 설명"),
        ("<p>unclosed <b>bold", "unclosed bold"),
    ],
)
def test_html_to_text(html: str | None, text: str) -> None:
    assert html_to_text(html) == text


# ---------------------------------------------------------------------------------------------
# LoRA family, sd version, WebUI card


@pytest.mark.parametrize(
    ("model_type", "expected"),
    [
        ("LORA", True),
        ("lora", True),
        ("LoCon", True),
        ("LOCON", True),
        ("DoRA", True),
        ("Checkpoint", False),
        ("TextualInversion", False),
        ("VAE", False),
        ("", False),
        (None, False),
    ],
)
def test_is_lora_family(model_type: str | None, expected: bool) -> None:
    assert is_lora_family(model_type) is expected
    assert frozenset({"LORA", "LoCon", "DoRA"}) == LORA_TYPES


@pytest.mark.parametrize(
    ("base", "version"),
    [
        ("SD 1.5", "SD1"),
        ("SD 1.4", "SD1"),
        ("SD 1.5 LCM", "SD1"),
        ("SD 2.1 768", "SD2"),
        ("SDXL 1.0", "SDXL"),
        ("SDXL Turbo", "SDXL"),
        ("Pony", "SDXL"),
        ("Illustrious", "SDXL"),
        ("NoobAI", "SDXL"),
        ("Pony V7", "Unknown"),
        ("Flux.1 D", "Unknown"),
        ("SD 3.5", "Unknown"),
        ("", "Unknown"),
        (None, "Unknown"),
    ],
)
def test_sd_version(base: str | None, version: str) -> None:
    assert sd_version(base) == version


def test_webui_card_has_the_keys_the_lora_tab_reads() -> None:
    card = webui_card(VERSION, MODEL, page_url=PAGE)
    assert set(card) == {
        "description",
        "sd version",
        "activation text",
        "preferred weight",
        "negative text",
        "notes",
    }
    assert card["activation text"] == "maid, maid apron, white headdress"
    assert card["sd version"] == "SDXL"
    assert card["preferred weight"] == 0
    assert "Use weight ~1.0 & enjoy" in card["description"]
    assert "- first" in card["description"]
    assert "<" not in card["description"]
    assert PAGE in card["notes"]
    assert "Maid Classic" in card["notes"]
    assert "v1.0 pony" in card["notes"]


def test_webui_card_without_words_or_description() -> None:
    card = webui_card({"baseModel": "SD 1.5"}, {}, page_url=PAGE)
    assert card["activation text"] == ""
    assert card["description"] == ""
    assert card["sd version"] == "SD1"
    assert card["notes"] == PAGE


# ---------------------------------------------------------------------------------------------
# place_lora / write_preview


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "root" / "maid.safetensors"
    path.parent.mkdir()
    path.write_bytes(os.urandom(64 * 1024))
    return path


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "Lora" / "Users" / "someuser" / "Maid Classic" / "maid.safetensors"


def test_hardlink_shares_the_inode(src: Path, dest: Path) -> None:
    assert place_lora(src, dest, mode="hardlink") == "hardlink"
    assert os.path.samefile(src, dest)
    assert _leftovers(dest.parent) == []
    assert place_lora(src, dest, mode="hardlink") == "exists"


def test_hardlink_across_devices_falls_back_to_copy(
    src: Path, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cross_device(a: Any, b: Any, **kw: Any) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    assert place_lora(src, dest, mode="hardlink") == "copy"
    assert not os.path.samefile(src, dest)
    assert dest.read_bytes() == src.read_bytes()
    assert _leftovers(dest.parent) == []
    assert place_lora(src, dest, mode="hardlink") == "exists"


def test_hardlink_unsupported_falls_back_to_copy(
    src: Path, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def windows_refuses(a: Any, b: Any, **kw: Any) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", windows_refuses)
    assert place_lora(src, dest, mode="hardlink") == "copy"
    assert dest.read_bytes() == src.read_bytes()


def test_copy_is_independent_and_keeps_mtime(src: Path, dest: Path) -> None:
    os.utime(src, (1_700_000_000, 1_700_000_000))
    assert place_lora(src, dest, mode="copy") == "copy"
    assert not os.path.samefile(src, dest)
    assert dest.read_bytes() == src.read_bytes()
    assert int(dest.stat().st_mtime) == 1_700_000_000
    assert place_lora(src, dest, mode="copy") == "exists"
    assert _leftovers(dest.parent) == []


def test_symlink_points_at_the_source(src: Path, dest: Path) -> None:
    result = place_lora(src, dest, mode="symlink")
    if result == "symlink":
        assert dest.is_symlink()
        assert os.path.samefile(src, dest)
    else:  # Windows without the symlink privilege
        assert os.name == "nt"
        assert result == "copy"
    assert dest.read_bytes() == src.read_bytes()
    assert place_lora(src, dest, mode="symlink") == "exists"


def test_symlink_not_permitted_falls_back_to_copy(
    src: Path, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_privilege(a: Any, b: Any, **kw: Any) -> None:
        raise OSError(errno.EPERM, "A required privilege is not held by the client")

    monkeypatch.setattr(os, "symlink", no_privilege)
    assert place_lora(src, dest, mode="symlink") == "copy"
    assert not dest.is_symlink()
    assert dest.read_bytes() == src.read_bytes()

    def missing(a: Any, b: Any, **kw: Any) -> None:
        raise NotImplementedError("no symlinks here")

    other = dest.with_name("other.safetensors")
    monkeypatch.setattr(os, "symlink", missing)
    assert place_lora(src, other, mode="symlink") == "copy"
    assert _leftovers(dest.parent) == []


def test_identical_content_with_other_mtime_is_kept(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(src.read_bytes())
    os.utime(dest, (1_000_000_000, 1_000_000_000))
    inode = dest.stat().st_ino
    assert place_lora(src, dest, mode="hardlink") == "exists"
    assert dest.stat().st_ino == inode


def test_a_different_file_at_dest_is_replaced(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"an older version of the file")
    assert place_lora(src, dest, mode="copy") == "copy"
    assert dest.read_bytes() == src.read_bytes()
    # Same size, different bytes, clearly different mtime: replaced too.
    dest.write_bytes(bytes(len(src.read_bytes())))
    os.utime(dest, (1_000_000_000, 1_000_000_000))
    assert place_lora(src, dest, mode="hardlink") == "hardlink"
    assert os.path.samefile(src, dest)
    assert _leftovers(dest.parent) == []


@pytest.mark.skipif(os.name == "nt", reason="creating the dangling link needs the privilege")
def test_a_dangling_symlink_at_dest_is_replaced(src: Path, dest: Path, tmp_path: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.symlink_to(tmp_path / "gone.safetensors")
    assert place_lora(src, dest, mode="copy") == "copy"
    assert not dest.is_symlink()
    assert dest.read_bytes() == src.read_bytes()


def test_off_writes_nothing(src: Path, dest: Path) -> None:
    assert place_lora(src, dest, mode="off") == "off"
    assert not dest.parent.exists()


def test_bad_mode_and_missing_source(src: Path, dest: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lora_link"):
        place_lora(src, dest, mode="move")
    with pytest.raises(FileNotFoundError):
        place_lora(tmp_path / "absent.safetensors", dest, mode="copy")
    assert not dest.exists()


def test_copy_failure_leaves_no_temp_and_no_dest(
    src: Path, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(a: Any, b: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        place_lora(src, dest, mode="copy")
    monkeypatch.undo()
    assert list(dest.parent.iterdir()) == []


def test_write_preview_uses_the_image_suffix(tmp_path: Path, dest: Path) -> None:
    image = tmp_path / "26887852.webp"
    image.write_bytes(b"RIFF....WEBPVP8 ")
    stem = dest.with_suffix("")
    preview = write_preview(image, stem)
    assert preview == dest.parent / "maid.preview.webp"
    assert preview.read_bytes() == image.read_bytes()
    assert write_preview(image, stem) == preview  # idempotent
    assert sorted(p.name for p in dest.parent.iterdir()) == ["maid.preview.webp"]


def test_write_preview_with_a_dotted_stem(tmp_path: Path, dest: Path) -> None:
    image = tmp_path / "1.JPEG"
    image.write_bytes(b"\xff\xd8\xff")
    preview = write_preview(image, dest.parent / "maid.v1.0")
    assert preview.name == "maid.v1.0.preview.jpeg"


def test_write_preview_needs_a_suffix(tmp_path: Path, dest: Path) -> None:
    image = tmp_path / "26887852"
    image.write_bytes(b"x")
    with pytest.raises(ValueError, match="suffix"):
        write_preview(image, dest.with_suffix(""))


def test_full_lora_placement_writes_what_the_webui_expects(
    src: Path, dest: Path, tmp_path: Path
) -> None:
    image = tmp_path / "26887852.jpeg"
    image.write_bytes(b"\xff\xd8\xffjpeg")
    assert place_lora(src, dest, mode="hardlink") == "hardlink"
    sidecars.write_json_atomic(dest.with_suffix(".json"), webui_card(VERSION, MODEL, page_url=PAGE))
    write_preview(image, dest.with_suffix(""))
    assert sorted(p.name for p in dest.parent.iterdir()) == [
        "maid.json",
        "maid.preview.jpeg",
        "maid.safetensors",
    ]
    card = json.loads(dest.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["activation text"].startswith("maid, maid apron")
