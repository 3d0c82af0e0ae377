"""Keep secrets out of anything a person or a file will see."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "SECRET_PARAMS",
    "Redactor",
    "has_secret_param",
    "mask_secret_params",
    "quiet_http_loggers",
    "strip_secret_params",
]

SECRET_PARAMS = frozenset({"token", "api_key", "apikey", "api-key", "key", "access_token"})
"""URL query parameters whose value is a secret (CivitAI download links accept `?token=KEY`).
Compared case-insensitively."""

_SECRET_PARAM = re.compile(
    r"([?&](?:" + "|".join(re.escape(n) for n in sorted(SECRET_PARAMS)) + r")=)[^&#\s]*",
    re.IGNORECASE,
)


def has_secret_param(text: str) -> bool:
    """Whether `text` holds a URL query parameter named like a secret (`?token=...`)."""
    return "=" in text and _SECRET_PARAM.search(text) is not None


def mask_secret_params(text: str) -> str:
    """`text` with the value of every secret URL parameter replaced by `***`."""
    if "=" not in text:
        return text  # nothing to hide (the common case: 100k URLs may be queued at once)
    return _SECRET_PARAM.sub(r"\1***", text)


def strip_secret_params(url: str) -> str:
    """`url` without its secret query parameters (for files meant to be shared)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in query if k.lower() not in SECRET_PARAMS]
    if len(kept) == len(query):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


class Redactor:
    """Replaces every configured secret (and any secret URL parameter's value) with `***`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Redact these too (a key set during a run; the old one stays redacted)."""
        # Cookie headers hold several secrets: redact each `name=value` value too.
        parts: set[str] = set(self._secrets)
        for secret in secrets:
            if not secret:
                continue
            parts.add(secret)
            for piece in secret.split(";"):
                _, _, value = piece.partition("=")
                if len(value.strip()) >= 8:
                    parts.add(value.strip())
        self._secrets = sorted(parts, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return mask_secret_params(text)


def quiet_http_loggers() -> None:
    """httpx logs every request URL at INFO; those URLs are nobody's business."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
