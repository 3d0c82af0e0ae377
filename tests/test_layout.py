"""Name sanitizing and the on-disk layout: hostile server names never escape root or lora_dir."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civittui.layout import (
    MAX_COMPONENT_BYTES,
    TITLE_MAX_BYTES,
    Layout,
    is_reserved_name,
    sanitize_component,
    sanitize_filename,
)

FORBIDDEN = set('<>:"/\\|?*') | {chr(c) for c in range(0x20)} | {"\x7f"}

HOSTILE = [
    "../../etc/passwd",
    "..\\..\\Windows\\System32",
    "/absolute/path",
    "C:\\Users\\victim",
    "CON",
    "con.txt",
    "Nul.tar.gz",
    "COM1",
    "lpt9.safetensors",
    'a:b*c?"<>|. ',
    "x" * 300,
    "한국어 " * 60,
    "🎨" * 100,
    "name\x00with\x00nul",
    "tab\there\nnewline\x7fdel",
    "trailing dots...",
    "   leading spaces",
    "...",
    "",
    " ",
    ".",
    "..",
]


def _assert_safe(comp: str, max_bytes: int = MAX_COMPONENT_BYTES) -> None:
    assert comp
    assert not (set(comp) & FORBIDDEN), comp
    assert len(comp.encode("utf-8")) <= max_bytes
    assert not is_reserved_name(comp)
    assert comp not in (".", "..")
    assert comp == comp.rstrip(" .")
    assert comp == comp.lstrip(" ")
    assert unicodedata.is_normalized("NFC", comp)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_become_one_safe_component(name: str, tmp_path: Path) -> None:
    comp = sanitize_component(name, fallback="fallback")
    _assert_safe(comp)
    target = tmp_path / comp
    assert target.parent == tmp_path
    target.mkdir()  # the OS accepts it as a single new folder
    assert [p.name for p in tmp_path.iterdir()] == [comp]


def test_examples_read_as_expected() -> None:
    # no leading dot: a server name never makes a hidden folder
    assert (
        sanitize_component("../../etc/passwd", fallback="f") == "_.._etc_passwd"
    )  # no leading dot: never a hidden folder
    assert sanitize_component("CON", fallback="f") == "CON_"
    assert sanitize_component("con.txt", fallback="f") == "con_.txt"
    assert sanitize_component("LPT1.tar.gz", fallback="f") == "LPT1_.tar.gz"
    assert sanitize_component("COM\u00b9", fallback="f") == "COM\u00b9_"
    assert sanitize_component("CONSOLE", fallback="f") == "CONSOLE"
    assert sanitize_component('a:b*c?"<>|. ', fallback="f") == "a_b_c_____"
    assert sanitize_component("  My Model v2. ", fallback="f") == "My Model v2"
    for empty in ("", " ", ".", "..", "...", " . "):
        assert sanitize_component(empty, fallback="12345") == "12345"


def test_unusable_fallback_is_sanitized_too() -> None:
    assert sanitize_component("..", fallback="a/b") == "a_b"
    assert sanitize_component("..", fallback="..") == "_"
    assert sanitize_component("", fallback="nul") == "nul_"


def test_korean_nfd_becomes_nfc_and_stays_korean() -> None:
    nfc = "한국어 모델"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    assert sanitize_component(nfd, fallback="f") == nfc
    assert sanitize_component(nfc, fallback="f") == nfc


def test_emoji_kept() -> None:
    assert sanitize_component("🎨 art 🖌️", fallback="f") == "🎨 art 🖌️"


def test_lone_surrogate_is_replaced_so_the_name_can_be_encoded() -> None:
    comp = sanitize_component("bad\ud800name", fallback="f")
    assert comp == "bad_name"
    comp.encode("utf-8")


def test_truncation_never_splits_a_character() -> None:
    name = "한" * 100  # 3 bytes each
    comp = sanitize_component(name, fallback="f", max_bytes=100)
    assert comp == "한" * 33
    emoji = sanitize_component("🎨" * 50, fallback="f", max_bytes=30)
    assert emoji == "🎨" * 7


def test_truncation_strips_new_trailing_dots_and_spaces() -> None:
    name = "a" * 10 + " ." + "b" * 50
    assert sanitize_component(name, fallback="f", max_bytes=12) == "a" * 10


def test_filename_keeps_extension_when_truncated() -> None:
    name = "x" * 300 + ".safetensors"
    out = sanitize_filename(name, fallback="f")
    assert out.endswith(".safetensors")
    assert len(out.encode("utf-8")) == MAX_COMPONENT_BYTES
    korean = "모델" * 80 + ".safetensors"
    out = sanitize_filename(korean, fallback="f")
    assert out.endswith(".safetensors")
    assert out.startswith("모델")
    assert len(out.encode("utf-8")) <= MAX_COMPONENT_BYTES


def test_filename_hostile_and_reserved() -> None:
    assert sanitize_filename("../../evil.safetensors", fallback="f") == "_.._evil.safetensors"
    assert sanitize_filename("CON.safetensors", fallback="f") == "CON_.safetensors"
    assert sanitize_filename("..", fallback="model.safetensors") == "model.safetensors"
    # No usable extension: plain truncation.
    long_plain = "y" * 200
    assert sanitize_filename(long_plain, fallback="f") == "y" * MAX_COMPONENT_BYTES


def test_max_bytes_too_small_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        sanitize_component("abc", fallback="f", max_bytes=3)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(), max_bytes=st.integers(min_value=8, max_value=255))
def test_property_any_string_gives_a_safe_idempotent_component(
    name: str, max_bytes: int, tmp_path: Path
) -> None:
    comp = sanitize_component(name, fallback="fallback", max_bytes=max_bytes)
    _assert_safe(comp, max_bytes)
    assert sanitize_component(comp, fallback="other", max_bytes=max_bytes) == comp
    root = tmp_path / "root"
    joined = Path(os.path.abspath(root / comp))
    assert joined.parent == Path(os.path.abspath(root))
    Layout(root, None).ensure_inside(root / comp)


@settings(max_examples=200)
@given(
    stem=st.text(min_size=1).filter(lambda s: s.strip(" .")),
    ext=st.sampled_from([".safetensors", ".ckpt", ".pt", ".zip"]),
    max_bytes=st.integers(min_value=24, max_value=200),
)
def test_property_filename_keeps_suffix(stem: str, ext: str, max_bytes: int) -> None:
    out = sanitize_filename(stem + ext, fallback="f" + ext, max_bytes=max_bytes)
    _assert_safe(out, max_bytes)
    assert out.endswith(ext)
    assert sanitize_filename(out, fallback="g", max_bytes=max_bytes) == out


def test_a_title_leaves_room_for_the_claim_suffix() -> None:
    long = sanitize_component("가" * 200, fallback="1", max_bytes=TITLE_MAX_BYTES)
    assert len(long.encode("utf-8")) <= TITLE_MAX_BYTES
    claimed = f"{long} (1234567890)"
    assert len(claimed.encode("utf-8")) <= MAX_COMPONENT_BYTES
    assert sanitize_component(claimed, fallback="x") == claimed


# ---------------------------------------------------------------------------------------------
# Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "CivitAI", tmp_path / "sd" / "Lora")


def test_tree_matches_the_design(layout: Layout, tmp_path: Path) -> None:
    root = tmp_path / "CivitAI"
    assert layout.post_dir("My Post") == root / "Posts" / "My Post"
    assert layout.user_dir("someuser") == root / "Users" / "someuser"
    model = layout.model_dir("someuser", "Maid Classic")
    assert model == root / "Users" / "someuser" / "Maid Classic"
    assert layout.meta_paths("someuser", 786644) == (
        root / "Users" / "someuser" / "model_meta_v786644.json",
        root / "Users" / "someuser" / "model_meta_v786644.txt",
    )
    assert layout.lora_model_dir("someuser", "Maid Classic") == (
        tmp_path / "sd" / "Lora" / "Users" / "someuser" / "Maid Classic"
    )
    assert layout.image_stem(model, 26887852) == model / "26887852"
    assert layout.sidecar_path(model, 26887852) == model / "26887852.txt"
    assert layout.file_path(model, "maid.safetensors") == model / "maid.safetensors"


def test_no_lora_dir_means_no_lora_paths(tmp_path: Path) -> None:
    assert Layout(tmp_path, None).lora_model_dir("u", "m") is None


def test_hostile_usernames_and_file_names_stay_inside(layout: Layout, tmp_path: Path) -> None:
    root = tmp_path / "CivitAI"
    assert layout.user_dir("../..").parent == root / "Users"
    assert layout.user_dir("") == root / "Users" / "unknown-user"
    folder = layout.model_dir("..", "m")
    evil = layout.file_path(folder, "../../../../evil.safetensors")
    assert evil.parent == folder
    assert evil.name == "_.._.._.._evil.safetensors"
    assert layout.file_path(folder, "") == folder / "model_file"
    cd = layout.file_path(folder, "C:\\Windows\\win.ini")
    assert cd.parent == folder


@pytest.mark.parametrize("bad", ["../escape", "a/b", "..", "", "CON", "trailing. "])
def test_unsanitized_folder_names_are_refused(layout: Layout, bad: str) -> None:
    with pytest.raises(ValueError, match="not a sanitized"):
        layout.post_dir(bad)
    with pytest.raises(ValueError, match="not a sanitized"):
        layout.model_dir("user", bad)
    with pytest.raises(ValueError, match="not a sanitized"):
        layout.lora_model_dir("user", bad)


@pytest.mark.parametrize("bad", [-1, True, "12"])
def test_ids_must_be_non_negative_ints(layout: Layout, bad: object) -> None:
    folder = layout.post_dir("p")
    with pytest.raises(ValueError):
        layout.image_stem(folder, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        layout.meta_paths("u", bad)  # type: ignore[arg-type]


def test_ensure_inside(layout: Layout, tmp_path: Path) -> None:
    root = tmp_path / "CivitAI"
    lora = tmp_path / "sd" / "Lora"
    assert layout.ensure_inside(root) == root
    assert layout.ensure_inside(root / "Posts" / "x") == root / "Posts" / "x"
    assert layout.ensure_inside(lora / "Users" / "u" / "f") == lora / "Users" / "u" / "f"
    for outside in (
        root / ".." / "escaped",
        root / "Posts" / ".." / ".." / "x",
        tmp_path / "CivitAIx" / "sibling-with-same-prefix",
        tmp_path,
        Path(os.path.abspath(os.sep)) / "etc" / "passwd",
        lora.parent / "other",
    ):
        with pytest.raises(ValueError, match="outside"):
            layout.ensure_inside(outside)


def test_ensure_inside_with_a_relative_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    layout = Layout(Path("mirror"), None)
    assert layout.ensure_inside(tmp_path / "mirror" / "a") == tmp_path / "mirror" / "a"
    with pytest.raises(ValueError):
        layout.ensure_inside(Path("mirror") / ".." / "a")


def _title(title: str, owner: int) -> str:
    return sanitize_component(title, fallback=str(owner), max_bytes=TITLE_MAX_BYTES)


def test_every_layout_path_can_be_created(layout: Layout, tmp_path: Path) -> None:
    # Hostile input end to end, through the same calls the engine makes; all creatable.
    for title in HOSTILE:
        d = layout.post_dir(_title(title, 42))
        d.mkdir(parents=True, exist_ok=True)
        layout.file_path(d, title).write_bytes(b"x")
        layout.sidecar_path(d, 1).write_text("{}", encoding="utf-8")
    for user in HOSTILE:
        m = layout.model_dir(user, _title(user, 7))
        m.mkdir(parents=True, exist_ok=True)
        lora = layout.lora_model_dir(user, _title(user, 7))
        assert lora is not None
        lora.mkdir(parents=True, exist_ok=True)
    # Nothing was created anywhere but root and lora_dir.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CivitAI", "sd"]
    assert [p.name for p in (tmp_path / "sd").iterdir()] == ["Lora"]
    assert len(list((tmp_path / "CivitAI" / "Posts").iterdir())) == len(
        {_title(t, 42) for t in HOSTILE}
    )
