"""A target's progress through a run, and recorded failures as the events a UI lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from civittui.choices import TargetChoices
from civittui.civitai.urls import Target, TargetKind
from civittui.engine.items import FileItem, Item, MetaItem
from civittui.events import ItemFailed, TargetStatus, TargetUpdated
from civittui.state import ItemRecord, TargetRecord

__all__ = ["TargetState", "failure_event", "parse_iso", "target_failure_event"]


@dataclass(slots=True)
class TargetState:
    """One queued target's progress in this run."""

    target: Target
    status: TargetStatus = TargetStatus.QUEUED
    choices: TargetChoices = TargetChoices()
    found: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    outstanding: int = 0
    crawled: bool = False
    error: str | None = None
    removed: bool = False
    name: str | None = None
    bytes_found: int = 0
    bytes_done: int = 0
    interrupted: bool = False
    """An item of it was stopped half-way: the target is not done, the next run resumes it."""
    resumed: bool = False
    """Taken from the state at start, not queued by the user: its failed items wait for retry."""
    told: float = 0.0
    """When its counts were last sent while skipping done items."""

    def learn(self, item: Item) -> None:
        """Take the target's name from its first item, and count the item's declared size."""
        if self.name is None:
            self.name = target_name(self.target, item)
        if isinstance(item, FileItem):
            self.bytes_found += item.size or 0

    def count_done(self, item: Item, size: int) -> None:
        """An item of this target is on disk: its bytes are done (and found, if undeclared)."""
        self.bytes_done += size
        if not (isinstance(item, FileItem) and item.size is not None):
            self.bytes_found += size

    def restore(self, record: TargetRecord) -> None:
        """Take up a target the state kept (a resumed queue): its choices and, once it ended,
        its counts. Only what a stop interrupted runs again; a failed target waits for `retry`
        (a known-bad file is not fetched again at every start)."""
        self.choices = TargetChoices.from_json(record.choices)
        self.resumed = True
        if record.status in (TargetStatus.DONE, TargetStatus.FAILED):
            self.status = TargetStatus(record.status)
            self.found, self.done = record.found, record.done
            self.failed, self.skipped = record.failed, record.skipped
            self.error = record.error
            self.crawled = True
            self.bytes_found, self.bytes_done = record.bytes_found, record.bytes_done
        # Any other target is crawled again and its done items recounted, bytes too.
        self.name = record.name

    def stored(self) -> dict[str, Any]:
        """What the state keeps of it (`Store.upsert_target`'s fields)."""
        return {
            "status": str(self.status),
            "found": self.found,
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "error": self.error,
            "name": self.name,
            "bytes_found": self.bytes_found,
            "bytes_done": self.bytes_done,
            "choices": self.choices.to_json() or None,
        }

    def report(self) -> dict[str, Any]:
        """The target's line in the run report."""
        return {
            "key": self.target.key,
            "url": self.target.url,
            **self.stored(),
            "choices": self.choices.to_json(),
        }

    def event(self) -> TargetUpdated:
        return TargetUpdated(
            key=self.target.key,
            url=self.target.url,
            status=self.status,
            found=self.found,
            done=self.done,
            failed=self.failed,
            skipped=self.skipped,
            error=self.error,
            name=self.name,
            bytes_found=self.bytes_found,
            bytes_done=self.bytes_done,
            choices=self.choices,
        )


def target_name(target: Target, item: Item) -> str | None:
    """What a person calls a target: the creator, the model (and version), or the poster."""
    if target.username:
        return target.username
    if isinstance(item, FileItem | MetaItem):
        model = str(item.model.get("name") or "")
        version = str(item.version.get("name") or "")
        if target.kind is TargetKind.VERSION and version:
            return f"{model} · {version}" if model else version
        return model or item.username or None
    poster = item.image.get("username")
    return f"{target.kind.value} by {poster}" if isinstance(poster, str) and poster else None


def parse_iso(value: str) -> datetime:
    """A stored ISO time (UTC when it has no zone); unreadable ones sort last."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def target_failure_event(record: TargetRecord) -> ItemFailed:
    return ItemFailed(
        key=record.key,
        name=record.url,
        reason=record.error or "unknown error",
        http_status=None,
        permanent=False,
        attempts=1,
        retry_at=None,
    )


def failure_event(record: ItemRecord) -> ItemFailed:
    """A recorded item failure as the event a UI lists."""
    return ItemFailed(
        key=record.key,
        name=record.name,
        reason=record.error or "unknown error",
        http_status=record.http_status,
        permanent=record.permanent,
        attempts=record.attempts,
        retry_at=parse_iso(record.retry_at) if record.retry_at else None,
    )
