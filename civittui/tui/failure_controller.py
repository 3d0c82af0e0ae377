"""What the app does for the Failures pane: retry (asking about permanent ones), details."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from civittui.engine.items import FileItem, ImageItem, Item, MetaItem, item_from_spec
from civittui.layout import Layout
from civittui.store import ItemRecord
from civittui.tui.screens.confirm import ConfirmScreen
from civittui.tui.screens.failure_details import FailureDetails, page_url

if TYPE_CHECKING:
    from civittui.tui.app import CivittuiApp

__all__ = ["FailureController"]


class FailureController:
    """Failure commands of one app: engine calls plus the model update the user sees at once.

    Args:
        app: the running app (engine, model, store).
    """

    def __init__(self, app: CivittuiApp) -> None:
        self.app = app

    def retry(self, keys: Sequence[str] | None) -> None:
        """Retry these failures; None = all, asking first when some are permanent."""
        if keys is not None:
            self._retry(keys, include_permanent=True)
            return
        failures = self.app.model.failures
        permanent = sum(1 for row in failures if row.event.permanent)
        if not permanent:
            self._retry(None, include_permanent=False)
            return
        question = (
            f"{permanent} of {len(failures)} failures are permanent "
            "(deleted or archived on CivitAI).\nRetry those too?"
        )

        def answered(include: bool | None) -> None:
            self._retry(None, include_permanent=bool(include))

        self.app.push_screen(
            ConfirmScreen(question, yes="Retry all", no="Only the others"), answered
        )

    def _retry(self, keys: Sequence[str] | None, *, include_permanent: bool) -> None:
        app = self.app
        count = app.engine.retry(keys, include_permanent=include_permanent)
        if keys is None:
            keys = [
                row.key
                for row in app.model.failures
                if include_permanent or not row.event.permanent
            ]
        app.model.mark_retrying(keys)
        app.notify(f"retrying {count} item(s)")
        app.repaint()

    def dismiss(self, key: str) -> None:
        """Forget a failure."""
        self.app.engine.dismiss(key)
        self.app.model.dismiss(key)
        self.app.repaint()

    def details(self, key: str) -> None:
        """Show a failure's details; the dialog can retry or dismiss it."""
        app = self.app
        row = app.model.failure(key)
        if row is None:
            return
        try:
            record = app.store.item(key)
        except ValueError:
            record = None  # a target that failed as a whole
        item = _item_of(record)

        def chosen(choice: str | None) -> None:
            if choice == "retry":
                self._retry([key], include_permanent=True)
            elif choice == "dismiss":
                self.dismiss(key)

        app.push_screen(
            FailureDetails(
                row.event,
                at=row.at,
                url=page_url(app.config.api_base, key, item),
                path=(record.path if record else None) or self._intended_path(item),
                now=app.wall(),
            ),
            chosen,
        )

    def _intended_path(self, item: Item | None) -> str | None:
        """Where the item was going (a failure before the download has no recorded path)."""
        config = self.app.config
        layout = Layout(config.root, config.lora_dir)
        try:
            if isinstance(item, FileItem):
                return str(layout.file_path(Path(item.folder), item.name))
            if isinstance(item, ImageItem):
                return str(layout.image_stem(Path(item.folder), int(item.image["id"]))) + ".*"
            if isinstance(item, MetaItem):
                version_id = item.version.get("id")
                if isinstance(version_id, int):
                    return str(layout.meta_paths(item.username, version_id)[0])
        except (ValueError, KeyError, TypeError):
            return None  # a spec this version cannot place: show no path rather than a wrong one
        return None


def _item_of(record: ItemRecord | None) -> Item | None:
    if record is None or not record.spec:
        return None
    try:
        return item_from_spec(record.spec)
    except ValueError:
        return None
