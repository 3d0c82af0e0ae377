"""CivitAI error answers -> failures a person understands (design.md §7)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from civittui.errors import ApiError

__all__ = ["api_error", "parse_deadline", "parse_retry_after"]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date); None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_deadline(value: object) -> datetime | None:
    """An ISO-8601 deadline from CivitAI (`2026-12-01T00:00:00.000Z`) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _message(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return ""


def api_error(status: int, body: Any, *, has_key: bool) -> ApiError:
    """Turn a final (non-retried) CivitAI error status into a recorded failure."""
    message = _message(body)
    lowered = message.lower()
    if status == 401:
        return _unauthorized(lowered, has_key=has_key)
    if status == 403:
        return _forbidden(body, message)
    if status == 404:
        detail = f" ({message})" if message else ""
        return ApiError(
            f"deleted on CivitAI or not visible{detail}", http_status=404, permanent=True
        )
    if status == 410:
        return ApiError(
            "archived on CivitAI: not available for download", http_status=410, permanent=True
        )
    if status == 429:
        return ApiError("rate limited by CivitAI (429): try again later", http_status=429)
    if status == 400:
        return ApiError("CivitAI rejected the request (400)", http_status=400)
    detail = f": {message}" if message else ""
    return ApiError(f"CivitAI answered {status}{detail}", http_status=status)


def _unauthorized(lowered: str, *, has_key: bool) -> ApiError:
    if "disabled downloads" in lowered:
        return ApiError(
            "the creator has disabled downloads of this file", http_status=401, permanent=True
        )
    if has_key:
        return ApiError(
            "login required: CivitAI did not accept the API key (check api_key)", http_status=401
        )
    return ApiError(
        "login required: set an API key (CIVITAI_API_KEY or api_key in the config)",
        http_status=401,
    )


def _forbidden(body: Any, message: str) -> ApiError:
    if isinstance(body, dict) and str(body.get("error", "")).lower() == "early access":
        deadline = parse_deadline(body.get("deadline"))
        when = deadline.strftime("%Y-%m-%d %H:%M UTC") if deadline else "an unknown date"
        return ApiError(f"early access until {when}", http_status=403, retry_at=deadline)
    if "access" in message.lower():
        return ApiError(f"no access on CivitAI: {message}", http_status=403)
    return ApiError(
        f"CivitAI refused access (403){': ' + message if message else ''}", http_status=403
    )
