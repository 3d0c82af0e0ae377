"""`civittui status` and `civittui failures` printed: the audit (`civittui.engine.audit`) and the
state compute, this prints."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict

from civittui.config import Config
from civittui.engine.audit import TargetAudit, collect
from civittui.textsafe import display_text, json_text

__all__ = ["cmd_failures", "run_status"]


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


def _say(line: str) -> None:
    print(display_text(line))  # names, titles and errors come from the server


def _print_audits(audits: Sequence[TargetAudit], *, quiet: bool = False) -> None:
    if not audits:
        _say("nothing recorded yet: run `civittui get URL` first, or pass URLs")
        return
    # A note every target carries (the offline caveat) is said once, at the end.
    shared = [n for n in audits[0].notes if len(audits) > 1 and all(n in a.notes for a in audits)]
    for audit in audits:
        if not (quiet and not audit.gaps and not audit.error):
            _print_audit(audit, shared, quiet=quiet)
    _print_total(audits)
    for note in shared:
        _say(f"note: {note}")


def _print_audit(audit: TargetAudit, shared: list[str], *, quiet: bool) -> None:
    _say(f"{audit.key}  {audit.url}")
    if audit.error:
        _say(f"  target failed: {audit.error}")
    _say(f"  listed {audit.listed}, on disk and verified {audit.verified}, gaps {len(audit.gaps)}")
    by_kind: dict[str, int] = {}
    for gap in audit.gaps:
        by_kind[gap.kind] = by_kind.get(gap.kind, 0) + 1
    if by_kind:
        _say("  " + ", ".join(f"{k}: {v}" for k, v in sorted(by_kind.items())))
    if quiet:
        return
    for gap in audit.gaps:
        _say(f"    {gap.key:<16} {display_text(gap.name)[:40]:<40} {gap.kind}: {gap.detail}")
    for note in audit.notes:
        if note not in shared:
            _say(f"  note: {note}")


def _print_total(audits: Sequence[TargetAudit]) -> None:
    incomplete = sum(1 for a in audits if a.gaps or a.error)
    listed = sum(a.listed for a in audits)
    verified = sum(a.verified for a in audits)
    gaps = sum(len(a.gaps) for a in audits)
    targets = f"{len(audits)} target" + ("" if len(audits) == 1 else "s")
    _say(
        f"total: {targets}, listed {listed}, on disk and verified {verified}, gaps {gaps}"
        + (f"; {incomplete} incomplete" if incomplete else "; complete")
    )


def cmd_failures(config: Config, args: argparse.Namespace) -> int:
    """The `failures` command: targets that failed as a whole, then items, newest first."""
    from civittui.state import Store, is_target_failure

    store = Store.open(config.state_path, read_only=True)
    try:
        records = store.failures()
        targets = [t for t in store.targets() if is_target_failure(t)]
    finally:
        store.close()
    if args.json:
        # A target that failed as a whole is a row like an item's; `retry KEY` takes its key.
        rows = [
            {
                "key": t.key,
                "name": t.url,
                "target": t.key,
                "reason": t.error,
                "http_status": None,
                "permanent": False,
                "attempts": 1,
                "last_try": t.updated,
                "retry_at": None,
                "path": None,
            }
            for t in targets
        ]
        rows += [
            {
                "key": r.key,
                "name": r.name,
                "target": r.target,
                "reason": r.error,
                "http_status": r.http_status,
                "permanent": r.permanent,
                "attempts": r.attempts,
                "last_try": r.updated,
                "retry_at": r.retry_at,
                "path": r.path,
            }
            for r in records
        ]
        print(json_text(rows))
        return 0
    if not records and not targets:
        print("no recorded failures")
        return 0
    for t in targets:
        line = f"{t.key:<16} {t.url[:40]:<40} {t.error}  (the whole target)  {t.updated}"
        print(display_text(line))  # the error may quote the server
    for r in records:
        flag = " (permanent)" if r.permanent else ""
        name = display_text(r.name)[:40]
        line = f"{r.key:<16} {name:<40} {r.error}{flag}  attempts={r.attempts}  {r.updated}"
        print(display_text(line))
    return 0
