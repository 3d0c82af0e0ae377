"""Keep secrets out of anything a person or a file will see."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["Redactor", "quiet_http_loggers"]

_TOKEN_PARAM = re.compile(r"(?i)([?&](?:token|api_key|apikey|key)=)[^&#\s]+")


class Redactor:
    """Replaces every configured secret (and any `token=` URL parameter) with `***`."""

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
        return _TOKEN_PARAM.sub(r"\1***", text)


def quiet_http_loggers() -> None:
    """httpx logs every request URL at INFO; those URLs are nobody's business."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
