"""CivitAI page URLs -> `Target`s: what to mirror, named by a stable key.

Accepted forms (design.md §4), on civitai.com / civitai.red / civitai.green / civitai.blue (with or
without `www.`) and the API host, with or without a scheme:

    /posts/{id}[/slug]                          POST
    /user/{name}[/models]                       CREATOR (model listing filters: types, baseModels)
    /user/{name}/posts|images|videos            CREATOR_IMAGES
    /models/{id}[/slug]                         MODEL
    /models/{id}[/slug]?modelVersionId={v}      VERSION (model_id kept)
    /model-versions/{v}, /api/download/models/{v}   VERSION
    /images/{id}                                IMAGE

Slugs, trailing slashes, fragments and extra query parameters are accepted; a parameter the API
cannot apply is ignored with a note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from civittui.config.values import MODEL_TYPES
from civittui.errors import ConfigError, UrlError
from civittui.redact import SECRET_PARAMS, mask_secret_params

__all__ = [
    "KNOWN_HOSTS",
    "Target",
    "TargetKind",
    "parse_url",
    "read_batch_file",
    "read_batch_lines",
]

KNOWN_HOSTS = ("civitai.com", "civitai.red", "civitai.green", "civitai.blue")
"""CivitAI's domains; `www.` in front of each is accepted too."""

_MAX_ID = 2**31 - 1  # ids are Postgres `integer`
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")  # one C scan: 100k URLs are queued at once
_DIGITS = re.compile(r"[0-9]+")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CREATOR_FILTERS = {"types": "types", "basemodels": "baseModels"}
_MODEL_TYPES = {name.lower(): name for name in MODEL_TYPES}


class TargetKind(StrEnum):
    """What a URL names."""

    POST = "post"
    CREATOR = "user"
    CREATOR_IMAGES = "user-images"
    MODEL = "model"
    VERSION = "version"
    IMAGE = "image"


@dataclass(frozen=True, slots=True)
class Target:
    """One thing to mirror, parsed from a URL."""

    kind: TargetKind
    url: str
    """The URL as given (stripped), with the value of a `token=` parameter replaced by `***`."""
    id: int | None = None
    """Post, model, version or image id (None for creators)."""
    username: str | None = None
    """CREATOR / CREATOR_IMAGES: the name as written in the URL (percent-decoded)."""
    model_id: int | None = None
    """VERSION from `/models/{id}?modelVersionId=`: the model the version belongs to."""
    api_params: tuple[tuple[str, str], ...] = ()
    """Site query parameters the API applies too: ("types", "LORA"), ("baseModels", "SDXL 1.0"),
    ("type", "video") for /user/{name}/videos."""
    notes: tuple[str, ...] = ()
    """What was ignored, for the user: "ignored ?sort=Newest (not an API filter)"."""
    key: str = field(init=False, compare=False)
    """Stable identity: "post:1", "user:alice" (lower-cased), "model:5", "version:77"."""

    def __post_init__(self) -> None:
        # Computed once: the queue asks for it several times per target, 100k targets at once.
        name = self.username.lower() if self.username is not None else self.id
        object.__setattr__(self, "key", f"{self.kind.value}:{name}")

    @property
    def version_id(self) -> int | None:
        """The model version id of a VERSION target, else None."""
        return self.id if self.kind is TargetKind.VERSION else None


# The common shape, `https://civitai.com/posts/123[/slug]` with no query, parsed without urlsplit:
# a batch of 100k such URLs is queued at once. Anything else takes the general path.
_PLAIN_PAGE = re.compile(
    r"(?:https://)?(?:www\.)?civitai\.(?:com|red|green|blue)"
    r"/(posts|images|model-versions|models)/([0-9]{1,10})(?:/[A-Za-z0-9_.~%-]*)?/?",
    re.ASCII,
)
_PLAIN_KINDS = {
    "posts": (TargetKind.POST, "post"),
    "images": (TargetKind.IMAGE, "image"),
    "model-versions": (TargetKind.VERSION, "model version"),
    "models": (TargetKind.MODEL, "model"),
}


def _host_matches(netloc: str, hostname: str, extra_hosts: Iterable[str]) -> bool:
    bare = hostname.removeprefix("www.").rstrip(".")
    if bare in KNOWN_HOSTS:
        return True
    for extra in extra_hosts:
        extra = extra.strip().lower()
        if extra and extra in (netloc, hostname):
            return True
    return False


def _id(raw: str, what: str, url: str) -> int:
    if not _DIGITS.fullmatch(raw):
        raise UrlError(f"unsupported CivitAI page: {url}")
    return _in_range(raw, what, url)


def _in_range(raw: str, what: str, url: str) -> int:
    """`raw` (ASCII digits) as an id CivitAI can have."""
    value = int(raw)
    if not 0 < value <= _MAX_ID:
        raise UrlError(f"invalid {what} id {raw} (must be 1 to {_MAX_ID}): {url}")
    return value


def parse_url(text: str, *, extra_hosts: Iterable[str] = ()) -> Target:
    """Parse a CivitAI page URL into a `Target`.

    Args:
        text: the URL, with or without scheme (`civitai.com/posts/1`, `//civitai.red/...`).
        extra_hosts: further accepted hosts, e.g. the API host with its port ("127.0.0.1:8123").

    Returns:
        The target, with filters the API can apply and notes on what was ignored.

    Raises:
        UrlError: "not a CivitAI URL: ..." (other host, garbage, empty), "unsupported CivitAI
            page: ..." (a page civittui cannot mirror) or "invalid ... id ...".
    """
    given = text.strip()
    plain = _PLAIN_PAGE.fullmatch(given)
    if plain is not None:
        kind, what = _PLAIN_KINDS[plain[1]]
        return Target(kind=kind, url=given, id=_in_range(plain[2], what, given))
    url = mask_secret_params(given)
    parts = _civitai_parts(given, url, extra_hosts)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    query = parse_qsl(parts.query, keep_blank_values=True)
    route = _route(segments, query, url)
    api_params = list(route.api_params)
    notes = _query_params(route, query, api_params)
    return Target(
        kind=route.kind,
        url=url,
        id=route.ident,
        username=route.username,
        model_id=route.model_id,
        api_params=tuple(dict.fromkeys(api_params)),
        notes=tuple(notes),
    )


def _civitai_parts(given: str, url: str, extra_hosts: Iterable[str]) -> SplitResult:
    """`given` split, once it is an http(s) URL on a CivitAI host (or one of `extra_hosts`)."""
    if not given or _SPACE_OR_CONTROL.search(given):
        raise UrlError(f"not a CivitAI URL: {url!r}" if not given else f"not a CivitAI URL: {url}")
    if _SCHEME.match(given):
        full = given
    else:
        full = ("https:" if given.startswith("//") else "https://") + given
    try:
        parts = urlsplit(full)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UrlError(f"not a CivitAI URL: {url}") from None
    hostname, netloc = parts.hostname or "", parts.netloc.lower()
    if (
        parts.scheme.lower() not in ("http", "https")
        or "@" in netloc
        or not _host_matches(netloc, hostname, extra_hosts)
    ):
        raise UrlError(f"not a CivitAI URL: {url}")
    return parts


@dataclass(slots=True)
class _Route:
    """What a URL's path names, before its query is read."""

    kind: TargetKind
    ident: int | None = None
    username: str | None = None
    model_id: int | None = None
    api_params: tuple[tuple[str, str], ...] = ()
    used: frozenset[str] = frozenset()  # query parameter names consumed by the route


def _route(segments: list[str], query: list[tuple[str, str]], url: str) -> _Route:
    match segments:
        case ["posts", raw, *_]:
            return _Route(TargetKind.POST, _id(raw, "post", url))
        case ["images", raw, *_]:
            return _Route(TargetKind.IMAGE, _id(raw, "image", url))
        case ["model-versions", raw, *_] | ["api", "download", "models", raw]:
            return _Route(TargetKind.VERSION, _id(raw, "model version", url))
        case ["models", raw, *_]:
            return _model_route(_id(raw, "model", url), query, url)
        case ["user", name] | ["user", name, "models"]:
            return _Route(TargetKind.CREATOR, username=_username(name, url))
        case ["user", name, "posts" | "images" | "videos" as page]:
            params = (("type", "video"),) if page == "videos" else ()
            return _Route(
                TargetKind.CREATOR_IMAGES, username=_username(name, url), api_params=params
            )
    raise UrlError(f"unsupported CivitAI page: {url}")


def _model_route(model_id: int, query: list[tuple[str, str]], url: str) -> _Route:
    """`/models/{id}`, or the version its `?modelVersionId=` names."""
    used = frozenset({"modelVersionId"})
    version = next((v.strip() for k, v in query if k == "modelVersionId" and v), "")
    if not version:
        return _Route(TargetKind.MODEL, model_id, used=used)
    if not re.fullmatch(r"[0-9]+", version):
        raise UrlError(f"invalid modelVersionId {version!r}: {url}")
    ident = _id(version, "model version", url)
    return _Route(TargetKind.VERSION, ident, model_id=model_id, used=used)


def _username(name: str, url: str) -> str:
    if not name.strip() or any(c == "/" or ord(c) < 0x20 for c in name):
        raise UrlError(f"unsupported CivitAI page: {url}")
    return name


def _query_params(
    route: _Route, query: list[tuple[str, str]], api_params: list[tuple[str, str]]
) -> list[str]:
    """Add the query's API filters to `api_params`; return notes on what was ignored."""
    notes: list[str] = []
    for name, value in query:
        if name in route.used:
            continue
        api_name = _CREATOR_FILTERS.get(name.lower())
        if route.kind is TargetKind.CREATOR and api_name is not None:
            notes += _creator_filter(name, api_name, value, api_params)
        elif name.lower() in SECRET_PARAMS:
            notes.append(f"ignored ?{name}=*** (the configured API key is used)")
        else:
            notes.append(f"ignored ?{name}={value} (not an API filter)")
    return notes


def _creator_filter(
    name: str, api_name: str, value: str, api_params: list[tuple[str, str]]
) -> list[str]:
    notes: list[str] = []
    for item in filter(None, (v.strip() for v in value.split(","))):
        if api_name != "types":
            api_params.append((api_name, item))
        elif item.lower() in _MODEL_TYPES:
            api_params.append((api_name, _MODEL_TYPES[item.lower()]))
        else:
            notes.append(f"ignored ?{name}={item} (unknown model type)")
    return notes


def read_batch_file(path: Path, *, extra_hosts: Iterable[str] = ()) -> list[str]:
    """Read a batch file: one URL a line; blank lines and `#` comments are skipped.

    A `#` after whitespace starts a comment too (a URL holds no spaces, so its `#fragment`
    is safe). Every URL is checked with `parse_url` so a typo stops the run before it starts.

    Args:
        path: the file (UTF-8, a BOM is fine).
        extra_hosts: as for `parse_url`.

    Returns:
        The URLs, in file order.

    Raises:
        ConfigError: the file cannot be read or is not UTF-8 text.
        UrlError: a line is not a supported CivitAI URL ("FILE:LINE: not a CivitAI URL: ...").
    """
    urls, bad = read_batch_lines(path, extra_hosts=extra_hosts)
    if bad:
        raise UrlError(bad[0])
    return urls


def read_batch_lines(path: Path, *, extra_hosts: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """Read a batch file as `read_batch_file` does, keeping the lines that are URLs.

    Returns:
        (the URLs in file order, one "FILE:LINE: reason" per line that is not one).

    Raises:
        ConfigError: the file cannot be read or is not UTF-8 text.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"cannot read batch file {path}: file not found") from None
    except OSError as err:
        raise ConfigError(f"cannot read batch file {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read batch file {path}: not UTF-8 text") from None
    hosts = tuple(extra_hosts)
    urls: list[str] = []
    bad: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not entry:
            continue
        try:
            parse_url(entry, extra_hosts=hosts)
        except UrlError as err:
            bad.append(f"{path}:{number}: {err}")
            continue
        urls.append(entry)
    return urls, bad
