"""`civittui status`: what the API lists vs what is on disk and verified, every gap explained.

With URLs, each target is crawled (API calls through the gate, nothing downloaded) and every
listed item is classified. Without URLs, the targets the state remembers are audited offline
from the state and the disk.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import anyio

from civittui.civitai.client import CivitaiClient
from civittui.civitai.gate import ApiGate
from civittui.civitai.urls import parse_url
from civittui.config import Config
from civittui.engine.crawl import Crawler, CrawlStats
from civittui.engine.items import Item
from civittui.engine.plan import own_path
from civittui.errors import ApiError
from civittui.layout import Layout
from civittui.store import ItemRecord, ItemStatus, Store
from civittui.textsafe import display_text, json_text

__all__ = ["Gap", "TargetAudit", "audit_offline", "audit_targets", "gap_reason", "run_status"]


@dataclass(slots=True)
class Gap:
    """One item listed by CivitAI that is not on disk and verified."""

    key: str
    name: str
    kind: str
    """`failed`, `early access`, `login required`, `deleted`, `archived`, `vanished`,
    `hidden by nsfw`, `not downloaded yet`, `unplaced` (listed, but which version they were
    posted to could not be learnt), `elsewhere` (fetched for another target, not yet linked
    into this one's folder)."""
    detail: str


@dataclass(slots=True)
class TargetAudit:
    """The answer to "did I get everything?" for one target."""

    key: str
    url: str
    listed: int = 0
    verified: int = 0
    gaps: list[Gap] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def gap_reason(record: ItemRecord | None, path_exists: bool) -> tuple[str, str] | None:
    """Classify one item: None when it is on disk and verified, else (kind, detail)."""
    if record is None:
        return ("not downloaded yet", "never fetched")
    if record.status == ItemStatus.DONE:
        return None if path_exists else ("vanished", f"recorded done but {record.path} is gone")
    if record.status == ItemStatus.PENDING:
        return ("not downloaded yet", "queued for retry")
    reason = record.error or "failed"
    status = record.http_status
    if reason.startswith("early access"):
        return ("early access", reason)
    if status == 401 or reason.startswith("login required"):
        return ("login required", reason)
    if status == 410:
        return ("archived", reason)
    if status == 404:
        return ("deleted", reason)
    return ("failed", f"{reason} (attempts: {record.attempts})")


def _exists(record: ItemRecord | None) -> bool:
    if record is None or not record.path:
        return False
    try:
        size = Path(record.path).stat().st_size
    except OSError:
        return False
    return record.size is None or size == record.size


def _classify(
    audit: TargetAudit,
    key: str,
    name: str,
    record: ItemRecord | None,
    item: Item | None = None,
    layout: Layout | None = None,
) -> None:
    audit.listed += 1
    found = gap_reason(record, _exists(record))
    if found is None and item is not None and layout is not None and record and record.path:
        found = _not_here(item, layout, Path(record.path))
    if found is None:
        audit.verified += 1
    else:
        audit.gaps.append(Gap(key, name, found[0], found[1]))


def _not_here(item: Item, layout: Layout, fetched: Path) -> tuple[str, str] | None:
    """A gap when another target fetched the item but this target's folder lacks it."""
    try:
        own = own_path(item, layout, fetched)
    except ValueError:
        return None
    if own is None or own == fetched or own.is_file():
        return None
    return ("elsewhere", f"on disk at {fetched}, not in this target's folder yet (a run links it)")


async def audit_targets(config: Config, store: Store, urls: Sequence[str]) -> list[TargetAudit]:
    """Crawl each URL (no downloads) and classify every listed item.

    Raises:
        UrlError: a URL is not one civittui can mirror (before any API call).
    """
    hosts = (urlsplit(config.api_base).netloc,)
    targets = [parse_url(url, extra_hosts=hosts) for url in urls]
    gate = ApiGate(config.rate, cooldown_until=store.cooldown_until())
    layout = Layout(config.root, config.lora_dir)
    client = CivitaiClient(config, gate)
    crawler = Crawler(config, client, store, layout)
    # Below `x`, the API hides items above the level: a second crawl at every level names them.
    everything = replace(config, nsfw="x")
    wide_client = CivitaiClient(everything, gate) if config.nsfw != "x" else None
    audits: list[TargetAudit] = []
    try:
        for target in targets:
            audit = TargetAudit(target.key, target.url)
            stats = CrawlStats()
            seen: set[str] = set()
            try:
                async for item in crawler.crawl(target, stats):
                    seen.add(item.key)
                    _classify(audit, item.key, item.name, store.item(item.key), item, layout)
                if wide_client is not None:
                    wide = Crawler(everything, wide_client, store, layout)
                    async for item in wide.crawl(target, CrawlStats()):
                        if item.key not in seen:
                            seen.add(item.key)
                            _classify_hidden(
                                audit, item.key, item.name, store.item(item.key), config.nsfw
                            )
            except ApiError as exc:
                audit.error = exc.reason
            audit.notes.extend(stats.notes)
            unplaced = stats.unplaced_error()
            if unplaced:
                audit.gaps.append(
                    Gap(target.key, f"{stats.unplaced} image(s)", "unplaced", unplaced)
                )
            if stats.dropped:
                audit.notes.append(f"{stats.dropped} listed item(s) did not belong to the target")
            audits.append(audit)
    finally:
        await client.aclose()
        if wide_client is not None:
            await wide_client.aclose()
    return audits


def _classify_hidden(
    audit: TargetAudit, key: str, name: str, record: ItemRecord | None, level: str
) -> None:
    """An item only an `nsfw = x` listing shows: a gap unless an earlier run fetched it."""
    audit.listed += 1
    if gap_reason(record, _exists(record)) is None:
        audit.verified += 1
    else:
        detail = f"above the nsfw = {level} setting (run with --nsfw x to fetch it)"
        audit.gaps.append(Gap(key, name, "hidden by nsfw", detail))


def audit_offline(store: Store) -> list[TargetAudit]:
    """Audit the remembered targets from the state and the disk (no API calls)."""
    audits: dict[str, TargetAudit] = {}
    for t in store.targets():
        audit = audits[t.key] = TargetAudit(t.key, t.url, error=t.error)
        if t.status not in ("done", "failed"):
            # Stopped before its crawl ended (Ctrl+C, ctrl+q): items it never listed are
            # unknown here, so the target itself is the gap until a run finishes it.
            detail = "not finished: a run stopped before it; the next run resumes it"
            audit.gaps.append(Gap(t.key, t.url, "not downloaded yet", detail))
    for record in store.items():
        key = record.target or "(no target)"
        audit = audits.setdefault(key, TargetAudit(key, ""))
        _classify(audit, record.key, record.name, record)
    # Items a target listed that another target recorded first (a creator after one of its
    # models, a post after its creator) belong to it as well.
    for key, audit in audits.items():
        for item_key in sorted(store.members(key)):
            member = store.item(item_key)
            if member is None or member.target != key:
                _classify(audit, item_key, member.name if member else item_key, member)
    for audit in audits.values():
        audit.notes.append("offline: items never recorded are not known; pass URLs to ask the API")
    return list(audits.values())


def run_status(config: Config, urls: Sequence[str], *, as_json: bool, quiet: bool = False) -> int:
    """The `status` command: print the audit; exit 0 when nothing is missing, else 1.

    `quiet` prints only the incomplete targets (without their item lines) and the total.
    """
    # Read-only: status runs beside a `get` holding the lock and must never write its state.
    store = Store.open(config.state_path, read_only=True)
    try:
        if urls:
            audits = anyio.run(audit_targets, config, store, list(urls))
        else:
            audits = audit_offline(store)
    finally:
        store.close()
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
