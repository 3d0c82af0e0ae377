"""The TOML text editor alone: values rendered, keys found, edits that keep the user's file."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from civittui.config.toml_text import dump_toml, find_key_line, toml_value, update_toml_file
from civittui.errors import ConfigError

DOC = """\
# my settings
root = 'D:\\CivitAI'  # where it all goes
nsfw = "soft"

[rate]
min_interval = 2.0 # polite
"retries" = 3

[download]
segments = 4
"""


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (7, "7"),
        (1.5, "1.5"),
        ("plain", '"plain"'),
        ("C:\\Program Files\\x", "'C:\\Program Files\\x'"),  # literal: readable paths
        ("it's C:\\x", '"it\'s C:\\\\x"'),
        ('say "hi"\n', '"say \\"hi\\"\\n"'),
        ("bell\x07", '"bell\\u0007"'),
        (["LORA", "DoRA"], '["LORA", "DoRA"]'),
    ],
)
def test_toml_value_round_trips(value: object, text: str) -> None:
    assert toml_value(value) == text
    assert tomllib.loads(f"v = {text}")["v"] == (list(value) if isinstance(value, tuple) else value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), None, {"a": 1}])
def test_toml_value_refuses_what_toml_cannot_hold(bad: object) -> None:
    with pytest.raises(TypeError):
        toml_value(bad)


def test_find_key_line() -> None:
    assert find_key_line(DOC, None, "nsfw") == 3
    assert find_key_line(DOC, "rate", "min_interval") == 6
    assert find_key_line(DOC, "rate", "retries") == 7  # a quoted key
    assert find_key_line(DOC, "rate", None) == 5  # the table's header
    assert find_key_line(DOC, "rate", "max_backoff") == 5  # falls back to its table
    assert find_key_line(DOC, "rate", "max_backoff", exact=True) is None
    assert find_key_line("rate = { retries = 1 }\n", "rate", "retries") == 1
    assert find_key_line(DOC, "concurrency", "files") is None


def test_dump_toml_puts_tables_after_the_top_level() -> None:
    data = {"rate": {"retries": 2}, "root": "/m", "weird key": 1}
    text = dump_toml(data)
    assert text.index("root") < text.index("[rate]")
    assert tomllib.loads(text) == data


def test_an_update_keeps_comments_order_and_other_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(DOC, "utf-8")
    update_toml_file(
        path, {"nsfw": "x", "rate.min_interval": 3.0, "rate.max_backoff": 30, "api_key": "k"}
    )
    text = path.read_text("utf-8")
    assert text.startswith("# my settings\n")
    assert "min_interval = 3.0  # polite" in text
    assert "root = 'D:\\CivitAI'  # where it all goes" in text
    data = tomllib.loads(text)
    assert data["nsfw"] == "x" and data["api_key"] == "k"
    assert data["rate"] == {"min_interval": 3.0, "retries": 3, "max_backoff": 30}
    assert data["download"] == {"segments": 4}
    # a new key goes into its own table, not at the end of the file
    assert text.index("max_backoff") < text.index("[download]")


def test_a_new_table_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('root = "/m"\n', "utf-8")
    update_toml_file(path, {"concurrency.files": 2})
    assert tomllib.loads(path.read_text("utf-8")) == {"root": "/m", "concurrency": {"files": 2}}


def test_an_inline_table_is_rewritten_whole_with_values_kept(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("rate = { retries = 1, min_interval = 0.5 }\n", "utf-8")
    update_toml_file(path, {"rate.retries": 4})
    assert tomllib.loads(path.read_text("utf-8")) == {"rate": {"retries": 4, "min_interval": 0.5}}


def test_crlf_and_a_bom_are_kept_readable(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'\xef\xbb\xbfnsfw = "soft"\r\nroot = "/m"\r\n')
    update_toml_file(path, {"nsfw": "none"})
    raw = path.read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert tomllib.loads(raw.decode("utf-8-sig")) == {"nsfw": "none", "root": "/m"}


def test_a_broken_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("root = \n", "utf-8")
    with pytest.raises(ConfigError, match="not valid TOML, not changed"):
        update_toml_file(path, {"nsfw": "x"})
    assert path.read_text("utf-8") == "root = \n"


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_the_written_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    update_toml_file(path, {"api_key": "secret"})
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp left
