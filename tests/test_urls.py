"""Every accepted CivitAI URL form, and the one-line errors for everything else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civittui.civitai.urls import Target, TargetKind, parse_url, read_batch_file
from civittui.errors import ConfigError, UrlError

POST, USER, USER_IMAGES = TargetKind.POST, TargetKind.CREATOR, TargetKind.CREATOR_IMAGES
MODEL, VERSION, IMAGE = TargetKind.MODEL, TargetKind.VERSION, TargetKind.IMAGE
NOTE = "ignored ?{}={} (not an API filter)"

# (url, kind, id, username, model_id, key, api_params, notes)
GOOD: list[tuple[str, TargetKind, int | None, str | None, int | None, str, tuple, tuple]] = [
    # posts: hosts x scheme x slug x trailing slash x fragment
    ("https://civitai.com/posts/123", POST, 123, None, None, "post:123", (), ()),
    ("http://civitai.com/posts/123", POST, 123, None, None, "post:123", (), ()),
    ("civitai.com/posts/123", POST, 123, None, None, "post:123", (), ()),
    ("//civitai.com/posts/123", POST, 123, None, None, "post:123", (), ()),
    ("https://www.civitai.com/posts/123/", POST, 123, None, None, "post:123", (), ()),
    ("https://civitai.red/posts/123/my-post-title", POST, 123, None, None, "post:123", (), ()),
    ("civitai.green/posts/123/slug/#top", POST, 123, None, None, "post:123", (), ()),
    ("HTTPS://CIVITAI.BLUE/posts/123", POST, 123, None, None, "post:123", (), ()),
    ("  https://civitai.com/posts/0042  ", POST, 42, None, None, "post:42", (), ()),
    ("https://civitai.com/posts/2147483647",
     POST, 2147483647, None, None, "post:2147483647", (), ()),
    (
        "https://civitai.com/posts/7/%E6%97%A5%E6%9C%AC%E8%AA%9E-title?sort=Newest",
        POST, 7, None, None, "post:7", (), (NOTE.format("sort", "Newest"),),
    ),
    ("https://civitai.com/posts/7/日本語", POST, 7, None, None, "post:7", (), ()),
    ("https://civitai.com:443/posts/8", POST, 8, None, None, "post:8", (), ()),
    # creators
    ("https://civitai.com/user/Alice", USER, None, "Alice", None, "user:alice", (), ()),
    ("civitai.com/user/Alice/", USER, None, "Alice", None, "user:alice", (), ()),
    ("https://civitai.red/user/Alice/models", USER, None, "Alice", None, "user:alice", (), ()),
    ("http://www.civitai.com/user/alice/models/#x",
     USER, None, "alice", None, "user:alice", (), ()),
    ("https://civitai.com/user/J%C3%BCrgen", USER, None, "Jürgen", None, "user:jürgen", (), ()),
    ("https://civitai.com/user/some_one_42",
     USER, None, "some_one_42", None, "user:some_one_42", (), ()),
    (
        "https://civitai.com/user/Alice/models?types=LORA&types=LoCon&types=lora",
        USER, None, "Alice", None, "user:alice", (("types", "LORA"), ("types", "LoCon")), (),
    ),
    (
        "https://civitai.com/user/Alice?sort=Newest&types=lora,dora&baseModels=SDXL%201.0",
        USER, None, "Alice", None, "user:alice",
        (("types", "LORA"), ("types", "DoRA"), ("baseModels", "SDXL 1.0")),
        (NOTE.format("sort", "Newest"),),
    ),
    (
        "https://civitai.com/user/Alice/models?types=Lora2&period=Week",
        USER, None, "Alice", None, "user:alice", (),
        ("ignored ?types=Lora2 (unknown model type)", NOTE.format("period", "Week")),
    ),
    # the creator's images
    ("https://civitai.com/user/Alice/posts",
     USER_IMAGES, None, "Alice", None, "user-images:alice", (), ()),
    ("civitai.com/user/Alice/images/",
     USER_IMAGES, None, "Alice", None, "user-images:alice", (), ()),
    ("https://civitai.green/user/Alice/images?tag=cat", USER_IMAGES, None, "Alice", None,
     "user-images:alice", (), (NOTE.format("tag", "cat"),)),
    ("https://civitai.com/user/Alice/videos", USER_IMAGES, None, "Alice", None, "user-images:alice",
     (("type", "video"),), ()),
    ("https://civitai.com/user/Alice/posts?types=LORA", USER_IMAGES, None, "Alice", None,
     "user-images:alice", (), (NOTE.format("types", "LORA"),)),
    # models and versions
    ("https://civitai.com/models/5", MODEL, 5, None, None, "model:5", (), ()),
    ("civitai.com/models/5/", MODEL, 5, None, None, "model:5", (), ()),
    ("https://civitai.com/models/5/cute-lora", MODEL, 5, None, None, "model:5", (), ()),
    ("https://civitai.red/models/5/cute-lora/#reviews", MODEL, 5, None, None, "model:5", (), ()),
    ("https://civitai.com/models/5?modelVersionId=77", VERSION, 77, None, 5, "version:77", (), ()),
    ("https://civitai.com/models/5/slug?modelVersionId=77",
     VERSION, 77, None, 5, "version:77", (), ()),
    (
        "civitai.blue/models/5/slug?sort=Newest&modelVersionId=77#gallery",
        VERSION, 77, None, 5, "version:77", (), (NOTE.format("sort", "Newest"),),
    ),
    ("https://civitai.com/models/5?modelVersionId=", MODEL, 5, None, None, "model:5", (), ()),
    ("https://civitai.com/model-versions/77", VERSION, 77, None, None, "version:77", (), ()),
    ("civitai.com/model-versions/77/", VERSION, 77, None, None, "version:77", (), ()),
    ("https://civitai.com/api/download/models/77", VERSION, 77, None, None, "version:77", (), ()),
    (
        "https://civitai.com/api/download/models/77?type=Model&format=SafeTensor",
        VERSION, 77, None, None, "version:77", (),
        (NOTE.format("type", "Model"), NOTE.format("format", "SafeTensor")),
    ),
    (
        "https://civitai.com/api/download/models/77?token=abcdef123456",
        VERSION, 77, None, None, "version:77", (),
        ("ignored ?token=*** (the configured API key is used)",),
    ),
    # images
    ("https://civitai.com/images/9", IMAGE, 9, None, None, "image:9", (), ()),
    ("civitai.red/images/9/", IMAGE, 9, None, None, "image:9", (), ()),
    ("https://civitai.com/images/9?postId=123", IMAGE, 9, None, None, "image:9", (),
     (NOTE.format("postId", "123"),)),
    ("//www.civitai.green/images/9#comments", IMAGE, 9, None, None, "image:9", (), ()),
    # the API host (fake server / mirror) given as an extra host
    ("http://127.0.0.1:8123/posts/1", POST, 1, None, None, "post:1", (), ()),
    ("127.0.0.1:8123/models/2?modelVersionId=3", VERSION, 3, None, 2, "version:3", (), ()),
]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "kind", "ident", "username", "model_id", "key", "api_params", "notes"), GOOD
)
def test_good_urls(
    url: str,
    kind: TargetKind,
    ident: int | None,
    username: str | None,
    model_id: int | None,
    key: str,
    api_params: tuple[tuple[str, str], ...],
    notes: tuple[str, ...],
) -> None:
    target = parse_url(url, extra_hosts=["127.0.0.1:8123"])
    assert (target.kind, target.id, target.username, target.model_id) == (
        kind,
        ident,
        username,
        model_id,
    )
    assert target.key == key
    assert target.api_params == api_params
    assert target.notes == notes
    assert target.version_id == (ident if kind is VERSION else None)


BAD = [
    ("", "not a CivitAI URL: ''"),
    ("   ", "not a CivitAI URL: ''"),
    ("hello world", "not a CivitAI URL: hello world"),
    ("https://example.com/posts/1", "not a CivitAI URL: https://example.com/posts/1"),
    ("https://civitai.com.evil.net/posts/1",
     "not a CivitAI URL: https://civitai.com.evil.net/posts/1"),
    ("https://notcivitai.com/posts/1", "not a CivitAI URL: https://notcivitai.com/posts/1"),
    ("ftp://civitai.com/posts/1", "not a CivitAI URL: ftp://civitai.com/posts/1"),
    ("https://civitai.com@evil.net/posts/1",
     "not a CivitAI URL: https://civitai.com@evil.net/posts/1"),
    ("https://me@civitai.com/posts/1", "not a CivitAI URL: https://me@civitai.com/posts/1"),
    ("http://civitai.com:99999/posts/1", "not a CivitAI URL: http://civitai.com:99999/posts/1"),
    ("http://127.0.0.1:9999/posts/1", "not a CivitAI URL: http://127.0.0.1:9999/posts/1"),
    ("https://evil.net/api/download/models/1?token=sekrit",
     "not a CivitAI URL: https://evil.net/api/download/models/1?token=***"),
    ("https://civitai.com/", "unsupported CivitAI page: https://civitai.com/"),
    ("https://civitai.com/articles/1", "unsupported CivitAI page: https://civitai.com/articles/1"),
    ("https://civitai.com/collections/2",
     "unsupported CivitAI page: https://civitai.com/collections/2"),
    ("https://civitai.com/models", "unsupported CivitAI page: https://civitai.com/models"),
    ("https://civitai.com/models?types=LORA",
     "unsupported CivitAI page: https://civitai.com/models?types=LORA"),
    ("https://civitai.com/user/", "unsupported CivitAI page: https://civitai.com/user/"),
    ("https://civitai.com/user/Alice/collections",
     "unsupported CivitAI page: https://civitai.com/user/Alice/collections"),
    ("https://civitai.com/user/%20", "unsupported CivitAI page: https://civitai.com/user/%20"),
    ("https://civitai.com/posts/abc", "unsupported CivitAI page: https://civitai.com/posts/abc"),
    ("https://civitai.com/posts/-1", "unsupported CivitAI page: https://civitai.com/posts/-1"),
    ("https://civitai.com/images/²", "unsupported CivitAI page: https://civitai.com/images/²"),
    ("https://civitai.com/posts/0",
     "invalid post id 0 (must be 1 to 2147483647): https://civitai.com/posts/0"),
    ("https://civitai.com/models/2147483648",
     "invalid model id 2147483648 (must be 1 to 2147483647): https://civitai.com/models/2147483648"),
    ("https://civitai.com/model-versions/0",
     "invalid model version id 0 (must be 1 to 2147483647): https://civitai.com/model-versions/0"),
    ("https://civitai.com/models/5?modelVersionId=abc",
     "invalid modelVersionId 'abc': https://civitai.com/models/5?modelVersionId=abc"),
    ("https://civitai.com/api/download/models/1/extra",
     "unsupported CivitAI page: https://civitai.com/api/download/models/1/extra"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "message"), BAD)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(UrlError) as caught:
        parse_url(url, extra_hosts=["127.0.0.1:8123"])
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_extra_host_without_port_matches_any_port() -> None:
    assert parse_url("http://localhost:5000/images/3", extra_hosts=["localhost"]).key == "image:3"
    with pytest.raises(UrlError):
        parse_url("http://localhost:5000/images/3")


def test_token_never_kept_in_target() -> None:
    target = parse_url("https://civitai.com/api/download/models/7?type=Model&Token=s3cr3t")
    assert "s3cr3t" not in repr(target)
    assert target.url == "https://civitai.com/api/download/models/7?type=Model&Token=***"


def test_target_is_hashable_and_key_is_stable() -> None:
    a = parse_url("https://civitai.com/user/ALICE")
    b = parse_url("civitai.red/user/alice/models/")
    assert a.key == b.key == "user:alice"
    assert len({a, a}) == 1 and a != b  # hashable; the URL as given is part of identity
    assert isinstance(a, Target)


def test_read_batch_file(tmp_path: Path) -> None:
    batch = tmp_path / "urls.txt"
    batch.write_text(
        "\ufeff# my creators\n"
        "\n"
        "https://civitai.com/user/Alice   # the best\n"
        "  civitai.com/posts/12#frag  \n"
        "#https://civitai.com/posts/13\n"
        "https://civitai.com/models/5?modelVersionId=6\r\n",
        encoding="utf-8",
    )
    assert read_batch_file(batch) == [
        "https://civitai.com/user/Alice",
        "civitai.com/posts/12#frag",
        "https://civitai.com/models/5?modelVersionId=6",
    ]


def test_read_batch_file_names_bad_line(tmp_path: Path) -> None:
    batch = tmp_path / "urls.txt"
    batch.write_text("# header\nhttps://civitai.com/posts/1\nhttps://civitai.com/articles/3\n")
    with pytest.raises(UrlError) as caught:
        read_batch_file(batch)
    assert str(caught.value) == (
        f"{batch}:3: unsupported CivitAI page: https://civitai.com/articles/3"
    )


def test_read_batch_file_extra_hosts(tmp_path: Path) -> None:
    batch = tmp_path / "urls.txt"
    batch.write_text("http://127.0.0.1:8123/posts/1\n")
    assert read_batch_file(batch, extra_hosts=["127.0.0.1:8123"]) == [
        "http://127.0.0.1:8123/posts/1"
    ]
    with pytest.raises(UrlError, match=r"urls\.txt:1: not a CivitAI URL"):
        read_batch_file(batch)


def test_read_batch_file_unreadable(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(ConfigError) as caught:
        read_batch_file(missing)
    assert str(caught.value) == f"cannot read batch file {missing}: file not found"
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError) as caught:
        read_batch_file(binary)
    assert str(caught.value) == f"cannot read batch file {binary}: not UTF-8 text"


@given(
    scheme=st.sampled_from(["", "https://"]),
    www=st.sampled_from(["", "www."]),
    tld=st.sampled_from(["com", "red", "green", "blue"]),
    page=st.sampled_from(["posts", "images", "model-versions", "models"]),
    ident=st.integers(min_value=0, max_value=2**33),
    slug=st.sampled_from(["", "/", "/maid-classic", "/%EB%A9%94%EC%9D%B4%EB%93%9C", "/a.b_c~d/"]),
)
def test_the_plain_page_shortcut_answers_as_the_general_parser(
    scheme: str, www: str, tld: str, page: str, ident: int, slug: str
) -> None:
    """Plain page URLs skip urlsplit (100k are queued at once); the answer must not change."""
    from civittui.civitai import urls

    url = f"{scheme}{www}civitai.{tld}/{page}/{ident}{slug}"
    assert urls._PLAIN_PAGE.fullmatch(url)
    try:
        fast: object = parse_url(url)
    except UrlError as exc:
        fast = str(exc)
    plain, urls._PLAIN_PAGE = urls._PLAIN_PAGE, re.compile(r"(?!)")  # never matches
    try:
        slow: object = parse_url(url)
    except UrlError as exc:
        slow = str(exc)
    finally:
        urls._PLAIN_PAGE = plain
    assert fast == slow
