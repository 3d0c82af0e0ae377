"""Request/response values, zod-like validation and cursor paging shared by the API routes."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from .data import World

T = TypeVar("T")

PUBLIC_CACHE = "public, s-maxage=300, stale-while-revalidate=150"
JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
BROWSER_MARKERS = ("mozilla", "chrome", "safari", "firefox", "opera", "edge")


@dataclass
class Req:
    """What a route needs to know about one API request."""

    method: str
    path: str
    query_pairs: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    world: World
    api_base: str
    api_key: str
    posts_enabled: bool = False
    body: bytes = b""

    @property
    def query(self) -> dict[str, list[str]]:
        """Query parameters by name, repeated values kept in order."""
        out: dict[str, list[str]] = {}
        for name, value in self.query_pairs:
            out.setdefault(name, []).append(value)
        return out

    def first(self, name: str) -> str | None:
        """The first value of a query parameter, if present."""
        for key, value in self.query_pairs:
            if key == name:
                return value
        return None

    def is_browser(self) -> bool:
        """``isRequestFromBrowser``: the User-Agent names a browser engine."""
        ua = self.headers.get("user-agent", "").lower()
        return any(marker in ua for marker in BROWSER_MARKERS)

    def authenticated(self) -> bool:
        """A valid API key via Bearer header, ``?token=`` (only without a header), or cookie."""
        auth = self.headers.get("authorization")
        if auth is not None:
            parts = auth.split(" ")
            return len(parts) > 1 and parts[1] == self.api_key
        if self.first("token") == self.api_key:
            return True
        cookie = self.headers.get("cookie", "")
        for part in cookie.split(";"):
            name, _, value = part.strip().partition("=")
            if name in ("__Secure-civitai-token", "__Secure-civ-token") and value == self.api_key:
                return True
        return False


@dataclass
class Response:
    """A complete response a route produced."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, cache: str | None = PUBLIC_CACHE) -> Response:
    """A JSON response (UTF-8, compact) with the public cache header unless told otherwise."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {"Cache-Control": cache} if cache else {}
    return Response(status, body, JSON_TYPE, headers)


def html_response(status: int, title: str, text: str, cache: str = "no-store") -> Response:
    """A small HTML page."""
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>{text}</p></body></html>"
    )
    return Response(status, page.encode("utf-8"), HTML_TYPE, {"Cache-Control": cache})


def next_js_404() -> Response:
    """The HTML page Next.js serves for a route that does not exist."""
    return html_response(404, "404: This page could not be found", "This page could not be found.")


class ValidationFailed(Exception):
    """Raised by :class:`Params` with the zod-like issues collected."""

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        super().__init__("validation failed")
        self.issues = issues

    def response(self) -> Response:
        """The 400 ``{"error": <ZodError>}`` body."""
        return json_response(400, {"error": {"issues": self.issues, "name": "ZodError"}})


class Params:
    """Query-string validation producing zod-shaped issues."""

    def __init__(self, req: Req) -> None:
        self.req = req
        self.issues: list[dict[str, Any]] = []

    def check(self) -> None:
        """Raise :class:`ValidationFailed` when any issue was found."""
        if self.issues:
            raise ValidationFailed(self.issues)

    def integer(
        self, name: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """``z.coerce.number().int().min().max()`` (absent -> None)."""
        raw = self.req.first(name)
        if raw is None:
            return None
        try:
            number = float(raw.strip()) if raw.strip() else 0.0
        except ValueError:
            number = math.nan
        if math.isnan(number):
            self.issues.append(
                {
                    "code": "invalid_type",
                    "expected": "number",
                    "received": "nan",
                    "path": [name],
                    "message": "Expected number, received nan",
                }
            )
            return None
        if not number.is_integer():
            self.issues.append(
                {
                    "code": "invalid_type",
                    "expected": "integer",
                    "received": "float",
                    "path": [name],
                    "message": "Expected integer, received float",
                }
            )
            return None
        value = int(number)
        if minimum is not None and value < minimum:
            self.issues.append(
                {
                    "code": "too_small",
                    "minimum": minimum,
                    "type": "number",
                    "inclusive": True,
                    "exact": False,
                    "message": f"Number must be greater than or equal to {minimum}",
                    "path": [name],
                }
            )
        if maximum is not None and value > maximum:
            self.issues.append(
                {
                    "code": "too_big",
                    "maximum": maximum,
                    "type": "number",
                    "inclusive": True,
                    "exact": False,
                    "message": f"Number must be less than or equal to {maximum}",
                    "path": [name],
                }
            )
        return value

    def enum(self, name: str, options: Sequence[str]) -> str | None:
        """``z.nativeEnum`` of one value."""
        raw = self.req.first(name)
        if raw is None:
            return None
        return self._enum_value(name, raw, options, [name])

    def enum_list(self, name: str, options: Sequence[str]) -> list[str]:
        """A repeatable (or comma-separated) enum parameter."""
        values: list[str] = []
        for i, raw in enumerate(self.req.query.get(name, [])):
            for part in raw.split(","):
                value = self._enum_value(name, part, options, [name, i])
                if value is not None:
                    values.append(value)
        return values

    def _enum_value(
        self, name: str, raw: str, options: Sequence[str], path: list[Any]
    ) -> str | None:
        if raw in options:
            return raw
        expected = " | ".join(f"'{o}'" for o in options)
        self.issues.append(
            {
                "received": raw,
                "code": "invalid_enum_value",
                "options": list(options),
                "path": path,
                "message": f"Invalid enum value. Expected {expected}, received '{raw}'",
            }
        )
        return None

    def boolean(self, name: str) -> bool | None:
        """``booleanString``: only "true"/"false"."""
        raw = self.req.first(name)
        if raw is None:
            return None
        if raw in ("true", "false"):
            return raw == "true"
        self.issues.append(
            {
                "code": "invalid_type",
                "expected": "boolean",
                "received": "string",
                "path": [name],
                "message": "Expected boolean, received string",
            }
        )
        return None

    def regex(self, name: str, pattern: str) -> str | None:
        """A string that must match ``pattern``."""
        raw = self.req.first(name)
        if raw is None:
            return None
        if re.fullmatch(pattern, raw) is None:
            self.issues.append(
                {
                    "validation": "regex",
                    "code": "invalid_string",
                    "message": "Invalid",
                    "path": [name],
                }
            )
            return None
        return raw

    def int_list(self, name: str) -> list[int]:
        """A comma-separated list of integers (``ids=1,2,3``)."""
        out: list[int] = []
        for raw in self.req.query.get(name, []):
            for part in raw.split(","):
                if part.strip().isdigit():
                    out.append(int(part))
                elif part.strip():
                    self.issues.append(
                        {
                            "code": "invalid_type",
                            "expected": "number",
                            "received": "nan",
                            "path": [name],
                            "message": "Expected number, received nan",
                        }
                    )
        return out


class BadCursor(Exception):
    """A cursor that does not parse for the current sort."""


@dataclass(frozen=True)
class SortSpec:
    """How one sort orders items and spells its cursor.

    ``values`` gives the sort values (ints; dates as epoch ms) ending with the id;
    ``descending`` says the direction; ``date_text`` prints a leading date value as text.
    """

    values: Callable[[Any], tuple[int, ...]]
    descending: bool = True
    date_text: bool = False


def _fmt_cursor(spec: SortSpec, values: tuple[int, ...]) -> str:
    from datetime import UTC, datetime

    parts = [str(v) for v in values]
    if spec.date_text:
        dt = datetime.fromtimestamp(values[0] / 1000, UTC)
        parts[0] = dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{values[0] % 1000:03d}"
    return "|".join(parts)


def _parse_cursor(spec: SortSpec, cursor: str, arity: int) -> tuple[int, ...]:
    from datetime import UTC, datetime

    parts = cursor.split("|")
    if len(parts) != arity:
        raise BadCursor(cursor)
    try:
        values: list[int] = []
        for i, part in enumerate(parts):
            if i == 0 and spec.date_text:
                dt = datetime.strptime(part, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
                values.append(int(dt.timestamp() * 1000))
            else:
                values.append(int(part))
    except ValueError as exc:
        raise BadCursor(cursor) from exc
    return tuple(values)


def paginate(
    items: list[T],
    spec: SortSpec,
    limit: int,
    cursor: str | None,
    page: int | None,
) -> tuple[list[T], str | None]:
    """Sort ``items`` and cut one page.

    Returns:
        The page and the next cursor (None at the end). ``limit+1`` semantics as the site:
        with ``limit=0`` the page is empty but a next cursor is still given.

    Raises:
        BadCursor: when ``cursor`` does not parse.
    """
    sign = -1 if spec.descending else 1
    keyed = sorted(((tuple(sign * v for v in spec.values(it)), it) for it in items), key=_k0)
    if cursor is not None:
        arity = len(spec.values(items[0])) if items else len(cursor.split("|"))
        start = tuple(sign * v for v in _parse_cursor(spec, cursor, arity))
        keyed = [pair for pair in keyed if pair[0] >= start]
    elif page is not None:
        keyed = keyed[(page - 1) * limit :]
    chunk = [it for _, it in keyed[:limit]]
    if len(keyed) > limit:
        return chunk, _fmt_cursor(spec, spec.values(keyed[limit][1]))
    return chunk, None


def _k0(pair: tuple[tuple[int, ...], Any]) -> tuple[int, ...]:
    return pair[0]


def next_page_url(req: Req, cursor: str) -> str:
    """The current request's URL on the API base, with ``cursor`` set."""
    pairs = [(k, v) for k, v in req.query_pairs if k != "cursor"]
    pairs.append(("cursor", cursor))
    return f"{req.api_base}{req.path}?{urlencode(pairs, quote_via=quote)}"


def page_metadata(
    req: Req, next_cursor: str | None, page: int | None, limit: int, used_page: bool
) -> dict[str, Any]:
    """The ``metadata`` object of a list response."""
    meta: dict[str, Any] = {}
    if next_cursor is not None:
        meta["nextCursor"] = next_cursor
    if used_page and page is not None:
        meta["currentPage"] = page
        meta["pageSize"] = limit
    if next_cursor is not None:
        meta["nextPage"] = next_page_url(req, next_cursor)
    return meta


def too_many_pages() -> Response:
    """The 429 for ``page*limit > 1000``."""
    return json_response(
        429, {"error": "You've requested too many pages, please use cursors instead"}
    )


def error(status: int, message: str, cache: str | None = PUBLIC_CACHE) -> Response:
    """``{"error": message}``."""
    return json_response(status, {"error": message}, cache)
