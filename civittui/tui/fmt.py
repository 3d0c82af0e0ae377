"""Short human-readable numbers for narrow terminal columns."""

from __future__ import annotations

from datetime import datetime

from rich.cells import cell_len, set_cell_size

__all__ = ["ago", "bar", "count", "duration", "fit", "size", "speed"]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def size(n: float | None) -> str:
    """`1536` -> `1.5 KiB`; None -> `?`."""
    if n is None:
        return "?"
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - loop always returns


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 target`, `3 targets`, `1,204 items`."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def speed(bytes_per_second: float) -> str:
    """`2_200_000` -> `2.1 MiB/s`."""
    return f"{size(bytes_per_second)}/s"


def duration(seconds: float | None) -> str:
    """`0.8` -> `0.8 s`, `12` -> `12 s`, `75` -> `1:15`, `3725` -> `1:02:05`; None -> `--:--`."""
    if seconds is None or seconds < 0 or seconds != seconds:
        return "--:--"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def ago(when: datetime, now: datetime) -> str:
    """How long before `now` `when` was: `just now`, `5 min ago`, `3 h ago`, else the date."""
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return when.strftime("%Y-%m-%d")


def fit(text: str, width: int) -> str:
    """`text` on one line, cut with `…` or padded with spaces to exactly `width` cells.

    Cell-aware: CJK characters take two cells, as the terminal draws them.
    """
    text = " ".join(text.split())
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…"


def bar(fraction: float | None, width: int) -> str:
    """A text progress bar of `width` cells; an unknown fraction gives a dotted bar."""
    if width <= 0:
        return ""
    if fraction is None:
        return "·" * width
    eighths = " ▏▎▍▌▋▊▉"
    fraction = max(0.0, min(1.0, fraction))
    filled = fraction * width
    full = int(filled)
    part = int((filled - full) * 8)
    text = "█" * full
    if full < width:
        text += eighths[part] if part else ""
    return text.ljust(width, " ")
