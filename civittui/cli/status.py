"""`civittui status` printed: the audit (`civittui.engine.audit`) computes, this prints."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict

from civittui.config import Config
from civittui.engine.audit import TargetAudit, collect
from civittui.textsafe import display_text, json_text

__all__ = ["run_status"]


def run_status(config: Config, urls: Sequence[str], *, as_json: bool, quiet: bool = False) -> int:
    """The `status` command: print the audit; exit 0 when nothing is missing, else 1.

    `quiet` prints only the incomplete targets (without their item lines) and the total.
    """
    audits = collect(config, urls)
    if as_json:
        print(json_text([asdict(a) for a in audits]))
    else:
        _print_audits(audits, quiet=quiet)
    complete = all(not a.gaps and not a.error for a in audits)
    return 0 if complete else 1


def _print_audits(audits: Sequence[TargetAudit], *, quiet: bool = False) -> None:
    out = sys.stdout

    def say(line: str) -> None:
        print(display_text(line), file=out)  # names, titles and errors come from the server

    if not audits:
        say("nothing recorded yet: run `civittui get URL` first, or pass URLs")
        return
    # A note every target carries (the offline caveat) is said once, at the end.
    shared = [n for n in audits[0].notes if len(audits) > 1 and all(n in a.notes for a in audits)]
    for audit in audits:
        complete = not audit.gaps and not audit.error
        if quiet and complete:
            continue
        say(f"{audit.key}  {audit.url}")
        if audit.error:
            say(f"  target failed: {audit.error}")
        verified, gaps = audit.verified, len(audit.gaps)
        say(f"  listed {audit.listed}, on disk and verified {verified}, gaps {gaps}")
        by_kind: dict[str, int] = {}
        for gap in audit.gaps:
            by_kind[gap.kind] = by_kind.get(gap.kind, 0) + 1
        if by_kind:
            say("  " + ", ".join(f"{k}: {v}" for k, v in sorted(by_kind.items())))
        if quiet:
            continue
        for gap in audit.gaps:
            say(f"    {gap.key:<16} {display_text(gap.name)[:40]:<40} {gap.kind}: {gap.detail}")
        for note in audit.notes:
            if note not in shared:
                say(f"  note: {note}")
    incomplete = sum(1 for a in audits if a.gaps or a.error)
    listed = sum(a.listed for a in audits)
    verified = sum(a.verified for a in audits)
    gaps = sum(len(a.gaps) for a in audits)
    targets = f"{len(audits)} target" + ("" if len(audits) == 1 else "s")
    say(
        f"total: {targets}, listed {listed}, on disk and verified {verified}, gaps {gaps}"
        + (f"; {incomplete} incomplete" if incomplete else "; complete")
    )
    for note in shared:
        say(f"note: {note}")
