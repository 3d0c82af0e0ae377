"""A file CivitAI serves with bytes that never match its published SHA256.

One mismatch may be a bad transfer; the same wrong digest twice means the bytes on CivitAI are
not the ones it lists, and fetching them again (gigabytes for a checkpoint) cannot help. Such a
failure is permanent: only an explicit `retry KEY` or `retry --include-permanent` tries again.
"""

from __future__ import annotations

import re

__all__ = ["BAD_FILE", "bad_file", "is_bad_file", "wrong_digest"]

BAD_FILE = "bad file on CivitAI: the same wrong bytes twice"

# Every engine words a mismatch as "SHA256 mismatch ... got <hex>" (the builtin one gives the
# whole digest, the external ones its first 16 digits): compare those 16.
_GOT = re.compile(r"SHA256 mismatch.*?\bgot ([0-9a-f]{16})", re.IGNORECASE | re.DOTALL)


def wrong_digest(reason: str | None) -> str | None:
    """The (first 16 digits of the) digest a SHA256-mismatch reason says arrived, or None."""
    match = _GOT.search(reason or "")
    return match.group(1).lower() if match else None


def bad_file(reason: str, previous: str | None) -> bool:
    """Is `reason` the second failure with the same wrong digest as `previous`?"""
    digest = wrong_digest(reason)
    return digest is not None and digest == wrong_digest(previous)


def is_bad_file(reason: str | None) -> bool:
    """Was this failure recorded as a known-bad file?"""
    return bool(reason) and str(reason).startswith(BAD_FILE)
