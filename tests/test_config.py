"""Configuration: precedence and provenance, every error line, masking, writing the file back."""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from pathlib import Path

import pytest

from civittui.config import (
    Config,
    default_config_path,
    describe,
    format_size,
    load_config,
    mask_secret,
    nsfw_browsing_level,
    nsfw_images_param,
    nsfw_models_param,
    option_flag,
    parse_size,
    to_json_dict,
    write_config_values,
)
from civittui.errors import ConfigError

KEY = "0123456789abcdef0123456789abcdef"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def sources(config: Config) -> dict[str, str]:
    return {key: source for key, _, source in describe(config)}


def test_defaults_when_the_default_file_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    if default_config_path().exists():
        pytest.skip("this platform's user config dir does not follow XDG_CONFIG_HOME")
    config = load_config(environ={})
    assert config == Config()
    assert config.config_file == default_config_path()
    assert set(sources(config).values()) == {"default"}
    assert config.api_host == "civitai.com"
    assert config.download.segment_min == 16 * 1024 * 1024


def test_default_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = default_config_path()
    if tmp_path not in path.parents:
        pytest.skip("this platform's user config dir does not follow XDG_CONFIG_HOME")
    path.parent.mkdir(parents=True)
    write(path, 'nsfw = "soft"\n')
    config = load_config(environ={})
    assert config.nsfw == "soft"
    assert sources(config)["nsfw"] == f"file:{path}"


def test_precedence_option_env_file_default(tmp_path: Path) -> None:
    path = write(
        tmp_path / "config.toml",
        f"""root = "{(tmp_path / "from-file").as_posix()}"
nsfw = "soft"
api_key = "file-key-0000000000000"
downloader = "aria2"

[rate]
min_interval = 3
retries = 2
""",
    )
    config = load_config(
        config_path=path,
        environ={"CIVITTUI_ROOT": str(tmp_path / "from-env"), "CIVITAI_API_KEY": KEY},
        options={"rate.min_interval": "0.25", "nsfw": "Mature", "root": None, "downloader": None},
    )
    assert config.root == tmp_path / "from-env"
    assert config.api_key == KEY
    assert config.nsfw == "mature"
    assert config.downloader == "aria2"
    assert config.rate.min_interval == 0.25
    assert config.rate.retries == 2
    assert config.rate.max_backoff == 60.0
    assert config.lora_link == "hardlink"
    got = sources(config)
    assert got["root"] == "env:CIVITTUI_ROOT"
    assert got["api_key"] == "env:CIVITAI_API_KEY"
    assert got["nsfw"] == "option:--nsfw"
    assert got["rate.min_interval"] == "option:--min-interval"
    assert got["downloader"] == f"file:{path}"
    assert got["rate.retries"] == f"file:{path}"
    assert got["rate.max_backoff"] == "default"
    assert config.config_file == path


def test_config_file_from_environment_and_explicit_path_wins(tmp_path: Path) -> None:
    env_file = write(tmp_path / "env.toml", 'nsfw = "none"\n')
    cli_file = write(tmp_path / "cli.toml", 'nsfw = "soft"\n')
    assert load_config(environ={"CIVITTUI_CONFIG": str(env_file)}).nsfw == "none"
    config = load_config(config_path=cli_file, environ={"CIVITTUI_CONFIG": str(env_file)})
    assert config.nsfw == "soft"
    assert sources(config)["nsfw"] == f"file:{cli_file}"


def test_env_api_base_and_host(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'api_base = "https://civitai.red/"\n')
    assert load_config(config_path=path, environ={}).api_base == "https://civitai.red"
    config = load_config(config_path=path, environ={"CIVITTUI_API_BASE": "HTTP://127.0.0.1:8123"})
    assert config.api_base == "http://127.0.0.1:8123"
    assert config.api_host == "127.0.0.1:8123"
    assert sources(config)["api_base"] == "env:CIVITTUI_API_BASE"


def test_empty_environment_values_are_not_given(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'api_key = "from-file-key-1234"\n')
    config = load_config(
        config_path=path,
        environ={"CIVITAI_API_KEY": "", "CIVITTUI_ROOT": " ", "CIVITTUI_CONFIG": ""},
    )
    assert config.api_key == "from-file-key-1234"
    assert sources(config)["root"] == "default"


def test_values_are_normalized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVITTUI_TEST_DIR", str(tmp_path / "var"))
    path = write(
        tmp_path / "c.toml",
        """root = "$CIVITTUI_TEST_DIR/root"
lora_dir = ""
filters_dir = "~/filters"
model_types = ["lora", "LoCon", "LORA", "dora"]
lora_link = "SymLink"
api_key = "  spaced-key-abc  "

[download]
segment_min = "512KiB"
""",
    )
    config = load_config(config_path=path, environ={})
    assert config.root == tmp_path / "var" / "root"
    assert config.lora_dir is None
    assert config.filters_dir == Path.home() / "filters"
    assert config.model_types == ("LORA", "LoCon", "DoRA")
    assert config.lora_link == "symlink"
    assert config.api_key == "spaced-key-abc"
    assert config.download.segment_min == 512 * 1024


def test_options_accept_strings_and_typed_values(tmp_path: Path) -> None:
    config = load_config(
        config_path=write(tmp_path / "c.toml", ""),
        environ={},
        options={
            "model_types": "LORA, locon",
            "download.segment_min": "1GiB",
            "concurrency.images": 8,
            "rate.max_backoff": 30,
            "lora_dir": tmp_path / "lora",  # a Path, as argparse's type=Path gives
            "root": str(tmp_path / "root"),
            "idm_timeout": "90",
        },
    )
    assert config.model_types == ("LORA", "LoCon")
    assert config.download.segment_min == 1024**3
    assert config.concurrency.images == 8
    assert config.rate.max_backoff == 30.0
    assert config.lora_dir == tmp_path / "lora"
    assert config.root == tmp_path / "root"
    assert config.idm_timeout == 90.0


FILE_ERRORS = [
    ('root = "x"\nnsfw = "maybe"\n',
     "2: 'nsfw' must be one of none, soft, mature, x (got 'maybe')"),
    (
        '# comment\n\n[rate]\nretries = 3\nmin_intervall = 1\n',
        "5: unknown key 'min_intervall' in [rate] (did you mean 'min_interval'?)",
    ),
    ('nsfw = "x"\nsegmnets = 4\n', "2: unknown key 'segmnets'"),
    ('nsfw = "x"\nsegments = 4\n', "2: unknown key 'segments' (it belongs in [download])"),
    ('nsfw = "x"\ndownlaoder = "idm"\n',
     "2: unknown key 'downlaoder' (did you mean 'downloader'?)"),
    ('[ratee]\nmin_interval = 1\n', "1: unknown table [ratee] (did you mean [rate]?)"),
    ('rate = 5\n', "1: 'rate' must be a table [rate] (got 5)"),
    (
        '[download]\nsegments = 2\nnsfw = "soft"\n',
        "3: unknown key 'nsfw' in [download] (top-level keys go before the first [table])",
    ),
    ('root = 5\n', "1: 'root' must be a string (got 5)"),
    ('root = ""\n', "1: 'root' must not be empty"),
    ('downloader = "wget"\n', "1: 'downloader' must be one of builtin, idm, aria2 (got 'wget')"),
    ('lora_link = true\n', "1: 'lora_link' must be a string (got true)"),
    (
        'api_base = "https://civitai.com/api/v1"\n',
        "1: 'api_base' must be an http(s) address with no path, like https://civitai.com "
        "(got 'https://civitai.com/api/v1')",
    ),
    ('api_base = "civitai.com"\n', "1: 'api_base' must be an http(s) address with no path, like "
     "https://civitai.com (got 'civitai.com')"),
    ('api_base = "https://u:p@civitai.com"\n',
     "1: 'api_base' must not hold a user name or password"),
    ('aria2_url = "localhost:6800"\n', "1: 'aria2_url' must be an http(s) or ws(s) URL "
     "(got 'localhost:6800')"),
    ('model_types = "LORA"\n', "1: 'model_types' must be an array of model types like [\"LORA\"] "
     "(got 'LORA')"),
    ('model_types = ["Lora2"]\n', "1: 'model_types' has an unknown model type 'Lora2' "
     "(did you mean 'LORA'?)"),
    ('api_key = "abc\\ndef"\n', "1: 'api_key' must hold printable ASCII characters only"),
    ("api_key = 1234567890\n", "1: 'api_key' must be a string"),
    ('idm_timeout = 0\n', "1: 'idm_timeout' must be a number > 0 and <= 604800 (got 0)"),
    ('[rate]\nmin_interval = -1\n', "2: 'rate.min_interval' must be a number from 0 to 600 (got -1)"),  # noqa: E501
    ('[rate]\nmin_interval = "1.5"\n', "2: 'rate.min_interval' must be a number from 0 to 600 (got '1.5')"),  # noqa: E501
    ('[rate]\nmax_backoff = inf\n', "2: 'rate.max_backoff' must be a number from 0 to 3600 (got inf)"),  # noqa: E501
    ('[rate]\nretries = 2.5\n', "2: 'rate.retries' must be a whole number from 0 to 100 (got 2.5)"),
    ('[rate]\nretries = true\n', "2: 'rate.retries' must be a whole number from 0 to 100 (got true)"),  # noqa: E501
    ('[concurrency]\nimages = 0\n', "2: 'concurrency.images' must be a whole number > 0 and <= 256 (got 0)"),  # noqa: E501
    ('rate.retries = -2\n', "1: 'rate.retries' must be a whole number from 0 to 100 (got -2)"),
    (
        '[download]\nsegment_min = "5 parsecs"\n',
        "2: 'download.segment_min' must be a size > 0 like 16777216 or \"16MiB\" (got '5 parsecs')",
    ),
    ('[download]\nsegment_min = 0\n', "2: 'download.segment_min' must be a size > 0 like "
     "16777216 or \"16MiB\" (got 0)"),
    # Every count and delay has an upper bound: a typo must not start 10^8 workers.
    ('[concurrency]\nimages = 100000000\n',
     "2: 'concurrency.images' must be a whole number > 0 and <= 256 (got 100000000)"),
    ('[concurrency]\nfiles = 65\n',
     "2: 'concurrency.files' must be a whole number > 0 and <= 64 (got 65)"),
    ('[download]\nsegments = 1000\n',
     "2: 'download.segments' must be a whole number > 0 and <= 64 (got 1000)"),
    ('[download]\nconnections_per_host = 100000\n',
     "2: 'download.connections_per_host' must be a whole number > 0 and <= 256 (got 100000)"),
    ('[rate]\nretries = 1000000\n',
     "2: 'rate.retries' must be a whole number from 0 to 100 (got 1000000)"),
    ('[rate]\nmin_interval = 1e9\n',
     "2: 'rate.min_interval' must be a number from 0 to 600 (got 1000000000.0)"),
    ('[rate]\nmax_backoff = 86400\n',
     "2: 'rate.max_backoff' must be a number from 0 to 3600 (got 86400)"),
    ('root = "/tmp/a\\u0000b"\n', "1: 'root' must not contain a NUL character"),
    ('lora_dir = "/tmp/\\u0000"\n', "1: 'lora_dir' must not contain a NUL character"),
    ('nsfw = "x"\nroot = \n', "2: invalid TOML: Invalid value (column 8)"),
    ('[rate]\n[rate]\n', "2: invalid TOML: Cannot declare ('rate',) twice (column 6)"),
    ('nsfw = "x"\nnsfw = "soft"\n', "2: invalid TOML: Cannot overwrite a value (column 14)"),
    ('nsfw = "x"\nroot = [1,\n\n', "2: invalid TOML: Invalid value (at end of document)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), FILE_ERRORS)
def test_file_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "config.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(config_path=path, environ={})
    assert str(caught.value) == f"{path}:{message}"


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'nsfw = "x"\nroot = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config_path=path, environ={})
    assert str(caught.value) == f"{path}:2: invalid TOML: not UTF-8 text"


def test_missing_or_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(config_path=missing, environ={})
    assert str(caught.value) == f"cannot read config file {missing}: file not found"
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"CIVITTUI_CONFIG": str(missing)})
    assert str(caught.value) == f"cannot read config file {missing}: file not found"
    with pytest.raises(ConfigError) as caught:
        load_config(config_path=tmp_path, environ={})  # a directory
    message = str(caught.value)
    assert message.startswith(f"cannot read config file {tmp_path}: ")
    assert "\n" not in message


OPTION_ERRORS = [
    ({"rate.min_interval": "abc"}, "option --min-interval must be a number from 0 to 600 (got 'abc')"),  # noqa: E501
    ({"rate.min_interval": "nan"}, "option --min-interval must be a number from 0 to 600 (got 'nan')"),  # noqa: E501
    ({"nsfw": "all"}, "option --nsfw must be one of none, soft, mature, x (got 'all')"),
    ({"downloader": "curl"}, "option --downloader must be one of builtin, idm, aria2 (got 'curl')"),
    ({"api_base": "ftp://x"}, "option --api-base must be an http(s) address with no path, like "
     "https://civitai.com (got 'ftp://x')"),
    ({"root": ""}, "option --root must not be empty"),
    ({"api_key": "bad\tkey"}, "option --api-key must hold printable ASCII characters only"),
    ({"concurrency.files": "two"}, "option --files must be a whole number > 0 and <= 64 (got 'two')"),  # noqa: E501
    ({"rate.retries": 1.5}, "option --retries must be a whole number from 0 to 100 (got 1.5)"),
    ({"min_interval": "1"},
     "unknown config key 'min_interval' (did you mean 'rate.min_interval'?)"),
]  # fmt: skip


@pytest.mark.parametrize(("options", "message"), OPTION_ERRORS)
def test_option_errors_name_the_option(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config_path=write(tmp_path / "c.toml", ""), options=options, environ={})
    assert str(caught.value) == message


def test_environment_errors_name_the_variable_and_hide_secrets(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "")
    with pytest.raises(ConfigError) as caught:
        load_config(config_path=path, environ={"CIVITTUI_API_BASE": "civitai.com/api"})
    assert str(caught.value) == (
        "environment variable CIVITTUI_API_BASE must be an http(s) address with no path, like "
        "https://civitai.com (got 'civitai.com/api')"
    )
    secret = "s3cr3t-value\u00e9"
    with pytest.raises(ConfigError) as caught:
        load_config(config_path=path, environ={"CIVITAI_API_KEY": secret})
    assert str(caught.value) == (
        "environment variable CIVITAI_API_KEY must hold printable ASCII characters only"
    )
    assert "s3cr3t" not in str(caught.value)


def test_secrets_are_masked(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'cookie = "session=abcdefgh"\naria2_secret = "tok"\n')
    config = load_config(config_path=path, options={"api_key": KEY}, environ={})
    rows = {key: value for key, value, _ in describe(config)}
    assert rows["api_key"] == "****cdef"
    assert rows["cookie"] == "****efgh"
    assert rows["aria2_secret"] == "****"  # 3 chars: nothing of it shown
    shown = to_json_dict(config)
    assert (shown["api_key"], shown["cookie"], shown["aria2_secret"]) == (
        "****cdef",
        "****efgh",
        "****",
    )
    assert KEY not in repr(describe(config)) + repr(shown)
    plain = to_json_dict(config, mask_secrets=False)
    assert plain["api_key"] == KEY
    assert plain["rate"] == {"min_interval": 1.5, "max_backoff": 60.0, "retries": 5}
    assert plain["download"]["segment_min"] == 16 * 1024 * 1024
    assert to_json_dict(Config())["api_key"] == ""
    assert describe(Config())[4] == ("api_key", "(not set)", "default")


@pytest.mark.parametrize(
    ("secret", "masked"),
    [("", "(not set)"), ("abc", "****"), ("abcdefgh", "****gh"), (KEY, "****cdef")],
)
def test_mask_secret(secret: str, masked: str) -> None:
    assert mask_secret(secret) == masked


def test_describe_display_values(tmp_path: Path) -> None:
    config = load_config(
        config_path=write(tmp_path / "c.toml", 'model_types = ["LORA", "DoRA"]\n'), environ={}
    )
    rows = {key: value for key, value, _ in describe(config)}
    assert rows["model_types"] == "LORA, DoRA"
    assert rows["lora_dir"] == "(not set)"
    assert rows["download.segment_min"] == "16MiB"
    assert rows["rate.min_interval"] == "1.5"
    assert rows["rate.max_backoff"] == "60"
    assert describe(Config())[7] == ("model_types", "(all)", "default")


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1048576),
        ("16MiB", 16 * 1024**2),
        ("512KiB", 512 * 1024),
        ("1GiB", 1024**3),
        ("2MB", 2_000_000),
        ("2 mb", 2_000_000),
        ("1.5MiB", 1572864),
        ("16M", 16 * 1024**2),
        ("100B", 100),
        ("1TB", 10**12),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "16 parsecs", "-1MiB", "1e6", "16MiBs"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_format_size() -> None:
    assert [format_size(n) for n in (16 * 1024**2, 512 * 1024, 1024**3, 2_000_000, 0)] == [
        "16MiB",
        "512KiB",
        "1GiB",
        "2000000",
        "0",
    ]


@pytest.mark.parametrize(
    ("nsfw", "images", "models", "level"),
    [("none", "None", None, 1), ("soft", "Soft", "true", 3), ("mature", "Mature", "true", 7),
     ("x", "X", "true", 31)],
)  # fmt: skip
def test_nsfw_params(nsfw: str, images: str, models: str | None, level: int) -> None:
    config = Config(nsfw=nsfw)
    assert nsfw_images_param(config) == images
    assert nsfw_models_param(config) == models
    assert nsfw_browsing_level(config) == level


def test_option_flag() -> None:
    assert option_flag("rate.min_interval") == "--min-interval"
    assert option_flag("api_key") == "--api-key"


def test_write_config_values_round_trip_keeps_comments(tmp_path: Path) -> None:
    path = write(
        tmp_path / "config.toml",
        """# my settings
root = "~/CivitAI"   # where it all goes
nsfw = "x"

[rate]
min_interval = 1.5 # be polite
""",
    )
    write_config_values(
        path,
        {
            "nsfw": "Soft",
            "lora_dir": "~/sd/models/Lora",
            "model_types": ["lora", "LoCon"],
            "rate.min_interval": "2",
            "rate.retries": 9,
            "download.segment_min": "32MiB",
            "idm_path": "C:\\Tools\\IDM\\IDMan.exe",
            "api_key": KEY,
            "cookie": None,
        },
    )
    text = path.read_text(encoding="utf-8")
    assert "# my settings" in text
    assert 'root = "~/CivitAI"   # where it all goes' in text
    assert "min_interval = 2.0  # be polite" in text
    assert "idm_path = 'C:\\Tools\\IDM\\IDMan.exe'" in text
    assert "cookie" not in text
    config = load_config(config_path=path, environ={})
    assert config.nsfw == "soft"
    assert config.lora_dir == Path.home() / "sd" / "models" / "Lora"
    assert config.model_types == ("LORA", "LoCon")
    assert config.rate.min_interval == 2.0
    assert config.rate.retries == 9
    assert config.download.segment_min == 32 * 1024**2
    assert config.idm_path == "C:\\Tools\\IDM\\IDMan.exe"
    assert config.api_key == KEY
    assert tomllib.loads(text)["download"]["segment_min"] == "32MiB"


def test_write_config_values_creates_private_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "config.toml"
    write_config_values(path, {"api_key": KEY, "concurrency.images": 6})
    assert tomllib.loads(path.read_text(encoding="utf-8")) == {
        "api_key": KEY,
        "concurrency": {"images": 6},
    }
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left


def test_write_config_values_makes_existing_file_private(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", 'nsfw = "x"\n')
    path.chmod(0o644)
    write_config_values(path, {"cookie": "a=b"})
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_config(config_path=path, environ={}).cookie == "a=b"


@pytest.mark.parametrize(
    "text",
    [
        'model_types = [\n  "LORA",\n]\nrate = { retries = 1 }\n',  # multi-line, inline table
        'model_types = ["LORA"]\nrate.retries = 1\n',  # dotted keys
    ],
)
def test_write_config_values_unusual_layouts(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "config.toml", text)
    write_config_values(path, {"model_types": ["DoRA"], "rate.min_interval": 0, "rate.retries": 4})
    config = load_config(config_path=path, environ={})
    assert config.model_types == ("DoRA",)
    assert (config.rate.retries, config.rate.min_interval) == (4, 0.0)


def test_write_config_values_refuses_bad_input(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", "nsfw = \n")
    with pytest.raises(ConfigError, match="not valid TOML, not changed"):
        write_config_values(path, {"nsfw": "soft"})
    assert path.read_text(encoding="utf-8") == "nsfw = \n"
    good = write(tmp_path / "good.toml", 'nsfw = "x"\n')
    with pytest.raises(ConfigError) as caught:
        write_config_values(good, {"nsfw": "maybe"})
    assert str(caught.value) == "'nsfw' must be one of none, soft, mature, x (got 'maybe')"
    with pytest.raises(ConfigError) as caught:
        write_config_values(good, {"rate.min_intervall": 1})
    assert str(caught.value) == (
        "unknown config key 'rate.min_intervall' (did you mean 'rate.min_interval'?)"
    )
    assert good.read_text(encoding="utf-8") == 'nsfw = "x"\n'


def test_deeply_nested_toml_is_one_error_line(tmp_path: Path) -> None:
    # tomllib recurses per level: 100k nested arrays raised RecursionError (a traceback).
    path = write(tmp_path / "config.toml", "x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config_path=path, environ={})
    assert str(caught.value) == f"{path}: invalid TOML: arrays or tables nested too deeply"


def test_root_with_nul_from_an_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            config_path=write(tmp_path / "c.toml", ""), options={"root": "/tmp/a\0b"}, environ={}
        )
    assert str(caught.value) == "option --root must not contain a NUL character"
