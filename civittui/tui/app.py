"""The civittui app: four panes over one engine, every action on a key and in the palette.

Built and run by `tui.launch`. The engine runs in one async worker; its events are drained into a
`ViewModel` and the panes are repainted from it five times a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from anyio.streams.memory import MemoryObjectReceiveStream
from rich.console import RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Container
from textual.events import DescendantFocus, Resize
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Header, Tab, Tabs
from textual.worker import Worker, WorkerError, WorkerState

import civittui
from civittui.config import Config
from civittui.engine.runner import Engine
from civittui.errors import CivittuiError
from civittui.events import Event, RunSummary
from civittui.prompts.user_lists import load_filters
from civittui.state import Store
from civittui.textsafe import display_text
from civittui.tui import css_path
from civittui.tui.commands import APP_BINDINGS, PANES, help_sections, palette_commands
from civittui.tui.failure_controller import FailureController
from civittui.tui.library_controller import LibraryController, SyncHooks
from civittui.tui.model import ViewModel
from civittui.tui.painter import paint
from civittui.tui.pane_controller import PaneController
from civittui.tui.prompt_controller import PromptController
from civittui.tui.prompt_events import PromptEvents
from civittui.tui.queue_controller import QueueController
from civittui.tui.screens.help import HelpScreen
from civittui.tui.screens.log import LogScreen, RunLog
from civittui.tui.screens.settings import SettingsScreen
from civittui.tui.widgets.failures import FailureList, FailuresPane
from civittui.tui.widgets.footer import KeyFooter
from civittui.tui.widgets.prompts import PromptsPane
from civittui.tui.widgets.queue import QueuePane, TargetList, UrlInput
from civittui.tui.widgets.status_line import StatusLine
from civittui.tui.widgets.workers import WorkersPane

__all__ = ["CivittuiApp", "css_path"]

REPAINT_SECONDS = 0.2  # 5 Hz: smooth to the eye, cheap at 10k rows


class CivittuiApp(PromptEvents):
    """Queue, Workers, Failures and Prompts panes over a running engine.

    Args:
        config: the effective configuration.
        engine: the engine to drive (the app runs `serve` and stops it on quit).
        store: the state store (TUI settings, failure details); closed on exit when `owns_store`.
        images: draw image thumbnails (see `thumbnail.images_supported`).
        owns_store: close `store` after the engine stopped.
        clock: monotonic seconds (gate countdown); fixed in snapshot tests.
        wall: local time (failure ages); fixed in snapshot tests.
    """

    CSS_PATH = str(css_path())
    ALLOW_IN_MAXIMIZED_VIEW: ClassVar[str] = "KeyFooter"
    TITLE = "civittui"
    SUB_TITLE = f"v{civittui.__version__}"

    BINDINGS: ClassVar[list[BindingType]] = APP_BINDINGS

    def __init__(
        self,
        config: Config,
        engine: Engine,
        store: Store,
        *,
        images: bool = False,
        owns_store: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = datetime.now,
        sync_hooks: SyncHooks | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.engine = engine
        self.store = store
        self.model = ViewModel(clock=clock, wall=wall)
        self.wall = wall
        self.images = images
        self.summary: RunSummary | None = None
        """The engine's totals once it stopped."""
        self.run_log = RunLog()
        """Every notice shown and the downloads of this session (the `n` screen)."""
        self._owns_store = owns_store
        self._engine_worker: Worker[RunSummary] | None = None
        self._quitting = False
        self.panes = PaneController(self, str(store.get_setting("tui.pane", "queue")))
        """Which pane is active, and the grid or tabbed layout."""
        filters = load_filters(config)
        self.prompt_actions = PromptController(self, filters)
        """Prompt browsing and list editing."""
        self.queue_actions = QueueController(self)
        """Add, remove, move, pause."""
        self.failure_actions = FailureController(self)
        """Retry, details and dismiss of failures."""
        self.library_actions = LibraryController(self, sync_hooks)  # sync and adopt

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(*(Tab(name.title(), id=f"tab-{name}") for name in PANES), id="pane-tabs")
        with Container(id="panes"):
            yield QueuePane(id="queue", classes="pane")
            yield WorkersPane(id="workers", classes="pane")
            yield FailuresPane(now=self.wall, id="failures", classes="pane")
            yield PromptsPane(
                self.prompt_actions.filters, images=self.images, id="prompts", classes="pane"
            )
        yield StatusLine("", id="status", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.library_actions.mounted()
        self.prompt_actions.restore_categories()
        self._seed()
        self.panes.layout_for(self.size.width, self.size.height)
        pane = self.panes.active if self.panes.active in PANES else "queue"
        if pane == "queue":
            self.panes.activate(pane, focus=False)
            self.query_one(QueuePane).url_input.focus()
        else:
            self.panes.activate(pane)  # where the user left off
        events = self.engine.subscribe()
        self._engine_worker = self.run_worker(
            self._serve(), name="engine", group="engine", exit_on_error=False
        )
        self.run_worker(self._drain(events), name="events", group="events")
        self.set_interval(REPAINT_SECONDS, self.repaint)
        self.set_interval(30, self.query_one(FailuresPane).failure_list.clear_cache)
        self.prompt_actions.load_prompts()
        self.repaint()

    def _seed(self) -> None:
        """First paint: the queue and failures the state store kept."""
        self.model.set_targets(self.engine.targets())
        failures = self.engine.failures()
        at = {f.key: self.failure_actions.failed_at(f) for f in failures}
        self.model.set_failures(failures, at=at)
        self.model.apply(self.engine.gate_state())
        self.model.set_paused(self.engine.paused)

    def on_resize(self, event: Resize) -> None:
        self.panes.layout_for(event.size.width, event.size.height)

    @property
    def active_pane(self) -> str:
        """The pane the user is in (`queue`, `workers`, `failures` or `prompts`)."""
        return self.panes.active

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        self.panes.tab_activated(event)

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        self.panes.focused(event)

    # -- engine ----------------------------------------------------------------------------------

    async def _serve(self) -> RunSummary:
        try:
            return await self.engine.serve()
        finally:
            self.close_store()  # after the engine's last flush

    async def _drain(self, events: MemoryObjectReceiveStream[Event]) -> None:
        async with events:
            async for event in events:
                self.model.apply(event)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "engine":
            return
        if event.state == WorkerState.ERROR:
            error = worker.error
            message = str(error) if isinstance(error, CivittuiError) else repr(error)
            self.notify(f"engine stopped: {message}", severity="error", timeout=30)
            if not self._quitting:
                self.exit(return_code=2, message=message)
        elif event.state == WorkerState.SUCCESS:
            result = worker.result
            self.summary = result if isinstance(result, RunSummary) else None

    def repaint(self) -> None:
        """Push what changed since the last tick into the panes (runs at 5 Hz)."""
        changes = self.model.take_changes()
        if not changes.any:
            return
        paint(
            self.model,
            changes,
            queue=self.query_one(QueuePane),
            workers=self.query_one(WorkersPane),
            failures=self.query_one(FailuresPane),
            status=self.query_one(StatusLine),
        )
        if changes.downloaded:
            self.run_log.downloaded(self.wall(), ((i.name, i.path) for i in changes.downloaded))
            self.prompt_actions.downloaded(changes.downloaded)
        for notice in changes.notices:
            severity = {"warning": "warning", "error": "error"}.get(notice.level, "information")
            self.notify(notice.message, severity=severity)  # type: ignore[arg-type]
        if changes.finished is not None and not self._quitting:
            self.notify(
                f"engine stopped: {changes.finished.done} done, {changes.finished.failed} failed"
            )

    # -- queue, failures and prompts (the controllers do the work) -------------------------------

    def add_urls(self, urls: Sequence[str]) -> list[str] | None:
        """Queue URLs (None when one is refused; the error shows under the URL box)."""
        return self.queue_actions.add_urls(urls)

    @on(QueuePane.UrlSubmitted)
    def _url_submitted(self, event: QueuePane.UrlSubmitted) -> None:
        self.queue_actions.submit(event.text)

    @on(UrlInput.LinesPasted)
    def _lines_pasted(self, event: UrlInput.LinesPasted) -> None:
        self.queue_actions.add_lines(event.text.splitlines())

    @on(TargetList.RemoveRequested)
    def _remove(self, event: TargetList.RemoveRequested) -> None:
        self.queue_actions.remove(event.key)

    @on(TargetList.ClearFinishedRequested)
    def _clear_finished(self) -> None:
        self.queue_actions.clear_finished()

    @on(TargetList.MoveRequested)
    def _move(self, event: TargetList.MoveRequested) -> None:
        self.queue_actions.move(event.key, event.delta)

    def action_focus_url(self) -> None:
        """Focus the URL box."""
        self.panes.activate("queue", focus=False)
        self.query_one(QueuePane).url_input.focus()

    def action_load_batch(self) -> None:
        """Ask for a batch file and queue its URLs."""
        self.queue_actions.load_batch()

    def action_sync(self, selected: bool) -> None:
        """Fetch what is new for every target (or the selected one)."""
        self.library_actions.sync(selected=selected)

    def action_adopt(self) -> None:
        """Ask for a folder and adopt its model files."""
        self.library_actions.ask_adopt()

    def action_toggle_pause(self) -> None:
        """Pause or resume crawling and downloads."""
        self.queue_actions.toggle_pause()

    @on(FailureList.RetryRequested)
    def _retry(self, event: FailureList.RetryRequested) -> None:
        self.failure_actions.retry(event.keys)

    @on(FailureList.DismissRequested)
    def _dismiss(self, event: FailureList.DismissRequested) -> None:
        self.failure_actions.dismiss(event.key)

    @on(FailureList.DetailsRequested)
    def _details(self, event: FailureList.DetailsRequested) -> None:
        self.failure_actions.details(event.key)

    # -- app-wide --------------------------------------------------------------------------------

    def action_show_pane(self, name: str) -> None:
        """Go to a pane (the only one shown on a small terminal)."""
        self.panes.activate(name)

    def action_zoom(self) -> None:
        """Maximize the focused pane, or restore the layout."""
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
        else:
            screen.maximize(self.query_one(f"#{self.panes.active}"), container=False)
        self.panes.compact_prompts()

    def action_help(self) -> None:
        """Show every key binding."""
        self.push_screen(HelpScreen(help_sections(self.BINDINGS)))

    def action_log(self) -> None:
        """Show every notice of this session and where the recent downloads went."""
        if not isinstance(self.screen, LogScreen):
            self.push_screen(LogScreen(self.run_log))

    def action_settings(self) -> None:
        """Open the settings screen; what a running engine can take up applies at once."""
        screen = SettingsScreen(self.config)

        def saved(path: Path | None) -> None:
            if path is None or screen.saved is None:
                return
            self.config = screen.saved
            self.engine.apply_config(screen.saved)
            self.notify(
                f"settings saved to {path}; the API key, interval and parallel downloads "
                "apply now, folders and the downloader from the next start"
            )

        self.push_screen(screen, saved)

    async def action_quit(self) -> None:
        """Stop the engine (state is saved), wait for it, and exit."""
        self.exit(return_code=0)

    def exit(
        self,
        result: int | None = None,
        return_code: int = 0,
        message: RenderableType | None = None,
    ) -> None:
        """Exit after the engine stopped and saved its state, however the exit was asked for."""
        if isinstance(message, str):  # printed on the terminal after the app: may quote a server
            message = Text(display_text(message))
        worker = self._engine_worker
        if worker is None or worker.is_finished:
            super().exit(result, return_code, message)
            return
        if self._quitting:
            return
        self._quitting = True
        self.store.set_setting("tui.pane", self.panes.active)
        self.engine.stop()

        async def exit_when_stopped() -> None:
            with suppress(WorkerError):
                await worker.wait()
            self.close_store()
            super(CivittuiApp, self).exit(result, return_code, message)

        self.run_worker(exit_when_stopped(), name="exit", group="exit")

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast whose text is shown as written: never parsed as markup, never a control.

        Notices quote server text (model names, error messages) and user text (URLs, paths);
        parsed as markup, a `[/]` in them raised MarkupError and ended the app at every start.
        """
        self.run_log.note(self.wall(), severity, display_text(message))
        super().notify(
            display_text(message) if not markup else message,
            title=display_text(title),
            severity=severity,
            timeout=timeout,
            markup=markup,
        )

    def close_store(self) -> None:
        """Save and close the state store when this app opened it (after the engine stopped)."""
        if self._owns_store:
            self.store.close()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Textual's own "Keys" panel would be a second "Keys" beside our help screen.
        yield from (c for c in super().get_system_commands(screen) if c.title != "Keys")
        yield from palette_commands(self)
