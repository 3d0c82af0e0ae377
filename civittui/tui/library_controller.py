"""What the app does for `sync` and `adopt`: sync all or the selected targets through the
running engine (newest first, until the first known item), adopt a folder with its progress
shown as a row of the Workers pane."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from civittui.civitai.client import CivitaiClient
from civittui.config import Config
from civittui.engine.events import ItemFinished, ItemProgress, ItemStarted
from civittui.engine.sync import SyncSource, completed_targets, last_sync
from civittui.errors import CivittuiError
from civittui.store import Store
from civittui.tui.screens.path_prompt import PathPrompt
from civittui.tui.widgets.queue import TargetList

if TYPE_CHECKING:
    from civittui.engine.adopt import AdoptReport
    from civittui.tui.app import CivittuiApp

__all__ = ["LibraryController", "SyncHooks"]


class SyncHooks:
    """The engine's item source for the app: the crawler, with `until_known` for the targets
    a sync asked for (the rest are crawled whole, as `get` does)."""

    def __init__(self) -> None:
        self.fast: set[str] = set()
        self.track: set[str] = set()
        self.sources: list[SyncSource] = []

    def items(self, config: Config, store: Store) -> Callable[[CivitaiClient], SyncSource]:
        """For `Engine(items=...)`."""
        return SyncSource.factory(config, store, self.sources, self.fast, self.track)


class LibraryController:
    """Sync and adopt commands of one app.

    Args:
        app: the running app (engine, store, model).
        hooks: the item source the app's engine was made with (None: sync crawls whole).
    """

    def __init__(self, app: CivittuiApp, hooks: SyncHooks | None) -> None:
        self.app = app
        self.hooks = hooks

    def mounted(self) -> None:
        """Once the panes exist: the queue shows what each target's last sync brought."""
        self.app.query_one(TargetList).set_note_source(self.new_note)

    def new_note(self, key: str) -> str:
        """`3 new` after a target's last sync brought 3 items (empty when never synced)."""
        count = last_sync(self.app.store, key)
        return f"{count} new" if count else ""

    def sync(self, *, selected: bool) -> None:
        """Re-queue all (or the highlighted) finished targets, to be crawled until known."""
        app = self.app
        rows = app.model.ordered_targets()
        if selected:
            row = app.query_one(TargetList).highlighted
            rows = [row] if row is not None else []
        if not rows:
            app.notify("nothing to sync: the queue is empty", severity="warning")
            return
        if self.hooks is not None:
            keys = {r.key for r in rows}
            self.hooks.fast.update(keys & completed_targets(app.store))
            self.hooks.track.update(keys)
        app.queue_actions.add_urls([r.url for r in rows])
        app.notify(f"syncing {len(rows)} target(s): new items only")

    def ask_adopt(self) -> None:
        """Ask for a folder (default: lora_dir), then adopt it in the background."""
        app = self.app

        def check(text: str) -> str | None:
            folder = Path(text).expanduser() if text.strip() else app.config.lora_dir
            if folder is None or not folder.is_dir():
                return f"{text or 'lora_dir'}: not a folder"
            app.run_worker(self.adopt(folder), group="adopt", exclusive=True)
            return None

        hint = str(app.config.lora_dir or "")
        app.push_screen(PathPrompt("Adopt model files in folder", check, placeholder=hint))

    async def adopt(self, folder: Path) -> AdoptReport | None:
        """Adopt `folder`; its progress is a row of the Workers pane."""
        from civittui.engine.adopt import Adopter

        app = self.app
        key = f"adopt:{folder}"
        app.model.apply(ItemStarted(key, f"adopt {folder.name or folder}", None, "hash"))

        def progress(phase: str, done: int, total: int) -> None:
            note = f"{phase} {done}/{total}" if phase != "hash" else "hashing"
            app.model.apply(ItemProgress(key, done, total, 0.0, note))

        try:
            adopter = Adopter(app.config, app.store, progress=progress, gate=app.engine.api_gate)
            report = await adopter.run([folder])
        except CivittuiError as exc:
            app.notify(f"adopt {folder}: {exc}", severity="error")
            return None
        finally:
            app.model.apply(ItemFinished(key, folder.name, str(folder), 0))
            app.repaint()
        app.notify(
            f"adopt {folder}: {len(report.adopted)} adopted, {len(report.unknown)} unknown, "
            f"{report.hashed} hashed, {report.api_calls} API calls"
        )
        return report
