"""The civittui app: four panes over one engine, every action on a key and in the palette.

`make_app` builds it for the CLI and for tests alike; `run_tui` runs it and returns the exit code.
The engine runs in one async worker; its events are drained into a `ViewModel` and the panes are
repainted from it five times a second.
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
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.events import DescendantFocus, Resize
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Header, Tab, Tabs
from textual.worker import Worker, WorkerError, WorkerState

import civittui
from civittui.config import Config
from civittui.engine.events import Event, ItemFailed, ItemFinished, RunSummary
from civittui.engine.runner import Engine
from civittui.errors import CivittuiError
from civittui.store import Store
from civittui.textsafe import display_text
from civittui.tui.commands import PANES, palette_commands
from civittui.tui.failure_controller import FailureController
from civittui.tui.library_controller import LibraryController, SyncHooks
from civittui.tui.model import ViewModel
from civittui.tui.painter import paint
from civittui.tui.prompt_controller import (
    PromptController,
    PromptsAppended,
    PromptsLoaded,
    TokensCounted,
)
from civittui.tui.queue_controller import QueueController
from civittui.tui.screens.help import HelpScreen
from civittui.tui.screens.log import LogScreen, RunLog
from civittui.tui.screens.settings import SettingsScreen
from civittui.tui.widgets.failures import FailureList, FailuresPane
from civittui.tui.widgets.filter_editor import FilterEditor
from civittui.tui.widgets.footer import KeyFooter
from civittui.tui.widgets.prompts import PromptsPane
from civittui.tui.widgets.queue import QueuePane, TargetList, UrlInput
from civittui.tui.widgets.status_line import StatusLine
from civittui.tui.widgets.thumbnail import images_supported
from civittui.tui.widgets.token_list import TokenList
from civittui.tui.widgets.workers import WorkersPane
from civittui.user_lists import load_filters

__all__ = ["CivittuiApp", "css_path", "make_app", "run_tui"]

REPAINT_SECONDS = 0.2  # 5 Hz: smooth to the eye, cheap at 10k rows
_TABBED_BELOW = (110, 34)  # under this many columns or rows, one pane at a time


def css_path() -> Path:
    """`civittui.tcss`: inside the package when installed from a wheel, else the checkout's."""
    package = Path(civittui.__file__).resolve().parent
    installed = package / "civittui.tcss"
    return installed if installed.is_file() else package.parent / "civittui.tcss"


def _binding(
    key: str,
    action: str,
    description: str,
    tooltip: str,
    *,
    show: bool = True,
    priority: bool = False,
) -> Binding:
    ident = action.replace("(", "_").replace(")", "").replace("'", "")
    return Binding(
        key, action, description, show=show, priority=priority, id=f"app.{ident}", tooltip=tooltip
    )


class CivittuiApp(App[int]):
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

    BINDINGS: ClassVar[list[BindingType]] = [
        _binding("ctrl+q", "quit", "Quit", "Save the queue and quit", priority=True),
        _binding("question_mark,f1", "help", "Help", "List every key"),
        _binding("a", "focus_url", "Add URL", "Focus the URL box"),
        _binding("ctrl+o", "load_batch", "Batch file", "Queue the URLs of a file", priority=True),
        _binding("p", "toggle_pause", "Pause/Resume", "Hold or continue crawling and downloads"),
        _binding("s,f2", "settings", "Settings", "Root, LoRA folder, downloader, API key, rate"),
        _binding("z", "zoom", "Zoom", "Fill the screen with the focused pane (again to restore)"),
        _binding("n", "log", "Log", "Every notice shown, and where recent downloads went"),
        _binding("u", "sync(False)", "Sync", "Fetch what is new for every target", show=False),
        _binding(
            "ctrl+u",
            "sync(True)",
            "Sync one",
            "Fetch what is new for the selected target",
            show=False,
        ),
        _binding("i", "adopt", "Adopt", "Identify the model files of a folder", show=False),
        _binding("1", "show_pane('queue')", "Queue", "Go to the queue", show=False),
        _binding("2", "show_pane('workers')", "Workers", "Go to active downloads", show=False),
        _binding("3", "show_pane('failures')", "Failures", "Go to the failure log", show=False),
        _binding("4", "show_pane('prompts')", "Prompts", "Go to saved prompts", show=False),
    ]

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
        self._tabbed = False
        self._pane = str(store.get_setting("tui.pane", "queue"))
        filters = load_filters(config)
        self.prompt_actions = PromptController(self, filters)
        """Prompt browsing and list editing."""
        self.queue_actions = QueueController(self)
        """Add, remove, move, pause."""
        self.failure_actions = FailureController(self)
        """Retry, details and dismiss of failures."""
        self.library_actions = LibraryController(self, sync_hooks)
        """Sync and adopt."""

    # -- layout ----------------------------------------------------------------------------------

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
        self._layout_for(self.size.width, self.size.height)
        pane = self._pane if self._pane in PANES else "queue"
        if pane == "queue":
            self._activate_pane(pane, focus=False)
            self.query_one(QueuePane).url_input.focus()
        else:
            self._activate_pane(pane)  # where the user left off
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
        self.model.set_failures(failures, at={f.key: self._failed_at(f) for f in failures})
        self.model.apply(self.engine.gate_state())
        self.model.set_paused(self.engine.paused)

    def _failed_at(self, failure: ItemFailed) -> datetime | None:
        try:
            record = self.store.item(failure.key)
        except ValueError:
            return None  # a target that failed as a whole (`user:ghost`), not an item
        if record is None:
            return None
        try:
            return datetime.fromisoformat(record.updated).astimezone().replace(tzinfo=None)
        except ValueError:
            return None

    def on_resize(self, event: Resize) -> None:
        self._layout_for(event.size.width, event.size.height)

    def _layout_for(self, width: int, height: int) -> None:
        self._tabbed = width < _TABBED_BELOW[0] or height < _TABBED_BELOW[1]
        self.query_one("#panes").set_class(self._tabbed, "-tabbed")
        self.query_one("#pane-tabs").display = self._tabbed
        if self._tabbed:
            self._sync_tabs()
        self._compact_prompts()

    def _compact_prompts(self) -> None:
        """In the 2x2 grid the Prompts pane stacks its list over the detail (too narrow else)."""
        prompts = self.query_one(PromptsPane)
        prompts.set_class(not self._tabbed and self.screen.maximized is not prompts, "-compact")

    @property
    def active_pane(self) -> str:
        """The pane the user is in (`queue`, `workers`, `failures` or `prompts`)."""
        return self._pane

    def _activate_pane(self, name: str, *, focus: bool = True) -> None:
        """Make `name` the active pane: `_pane` is the one source of truth, the tab bar and the
        `-active` classes only show it."""
        self._pane = name
        self._mark_active()
        if self._tabbed:
            self._sync_tabs()
        if focus:
            selector = {
                "queue": "#targets",
                "workers": "#worker-list",
                "failures": "#failure-list",
                "prompts": "#prompt-list",
            }[name]
            self.query_one(selector).focus()

    def _mark_active(self) -> None:
        """Put `-active` on the active pane only, restyling the panes themselves and nothing
        inside them: no rule inside a pane depends on it, and restyling the hundreds of widgets
        of two panes was most of a switch's 150-200 ms."""
        changed = False
        for pane in self.query_one("#panes").children:
            active = pane.id == self._pane
            if pane.has_class("-active") != active:
                pane.set_class(active, "-active", update=False)
                self.stylesheet.apply(pane)
                pane.refresh()
                changed = True
        if changed and self._tabbed:  # in the grid only the borders' colours change
            self.query_one("#panes").refresh(layout=True)

    def _sync_tabs(self) -> None:
        """Show the active pane in the tab bar (only drawn on small terminals)."""
        tabs = self.query_one(Tabs)
        if tabs.active != f"tab-{self._pane}":
            tabs.active = f"tab-{self._pane}"  # posts a TabActivated that `_tab_activated` ignores

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        """A tab the user clicked. A message the bar posted for an earlier switch arrives after
        later ones: acting on it re-activated the pane just left, and the two switches fed each
        other forever (100% CPU, input ignored). Only the tab still shown as active counts."""
        tabs = self.query_one(Tabs)
        if event.tab.id != tabs.active:
            return  # stale: the bar has moved on since
        name = (event.tab.id or "tab-queue").removeprefix("tab-")
        if name in PANES and name != self._pane:
            self._activate_pane(name)

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        """Keep the active pane on the pane that holds the focus (a click, Tab, a dialog)."""
        if event.widget is not self.focused:
            return  # stale: focus moved on before this message arrived
        for ancestor in event.widget.ancestors_with_self:
            if ancestor.id in PANES:
                if ancestor.id != self._pane:
                    self._activate_pane(str(ancestor.id), focus=False)
                break

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
            self.run_log.downloaded(
                self.wall(), ((item.name, item.path) for item in changes.downloaded)
            )
        self.prompt_actions.add_sidecars(
            [_sidecar_of(item) for item in changes.downloaded if item.key.startswith("image:")]
        )
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
        self._activate_pane("queue", focus=False)
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

    @on(PromptsLoaded)
    def _prompts_loaded(self, message: PromptsLoaded) -> None:
        self.query_one(PromptsPane).set_entries(message.entries)

    @on(PromptsAppended)
    def _prompts_appended(self, message: PromptsAppended) -> None:
        self.query_one(PromptsPane).add_entries(message.entries)

    @on(TokensCounted)
    def _tokens_counted(self, message: TokensCounted) -> None:
        self.query_one(PromptsPane).set_tokens(message.counts)

    @on(PromptsPane.TokensRequested)
    def _tokens_requested(self) -> None:
        self.prompt_actions.count_tokens()

    @on(PromptsPane.CopyRequested)
    def _copy_requested(self, event: PromptsPane.CopyRequested) -> None:
        self.prompt_actions.copy(event.what, event.entry, event.filtered)

    @on(PromptsPane.OpenRequested)
    def _open_requested(self, event: PromptsPane.OpenRequested) -> None:
        self.prompt_actions.open(event.what, event.entry)

    @on(PromptsPane.CategoriesChanged)
    def _categories_changed(self, event: PromptsPane.CategoriesChanged) -> None:
        self.prompt_actions.remember_categories(event.enabled)

    @on(PromptsPane.EditRequested)
    def _edit_requested(self) -> None:
        self.prompt_actions.choose_list_to_edit()

    @on(FilterEditor.SaveRequested)
    def _save_list(self, event: FilterEditor.SaveRequested) -> None:
        self.prompt_actions.save_list(event.category, event.text)

    @on(TokenList.AddRequested)
    def _add_token(self, event: TokenList.AddRequested) -> None:
        self.prompt_actions.add_token(event.token)

    def action_reload_prompts(self) -> None:
        """Read the saved prompts and token counts again (new downloads appear)."""
        self.prompt_actions.load_prompts()
        self.prompt_actions.count_tokens()

    # -- app-wide --------------------------------------------------------------------------------

    def action_show_pane(self, name: str) -> None:
        """Go to a pane (the only one shown on a small terminal)."""
        self._activate_pane(name)

    def action_zoom(self) -> None:
        """Maximize the focused pane, or restore the layout."""
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
        else:
            screen.maximize(self.query_one(f"#{self._pane}"), container=False)
        self._compact_prompts()

    def action_help(self) -> None:
        """Show every key binding."""
        from civittui.tui.widgets.virtual_list import VirtualList

        self.push_screen(
            HelpScreen(
                [
                    ("Anywhere", self.BINDINGS),
                    ("Queue list", TargetList.BINDINGS),
                    ("Failures list", FailureList.BINDINGS),
                    ("Prompts pane", PromptsPane.BINDINGS),
                    ("Token view", TokenList.BINDINGS),
                    ("List editor", FilterEditor.BINDINGS),
                    ("Any list", VirtualList.BINDINGS),
                ]
            )
        )

    def action_log(self) -> None:
        """Show every notice of this session and where the recent downloads went."""
        if not isinstance(self.screen, LogScreen):
            self.push_screen(LogScreen(self.run_log))

    def action_settings(self) -> None:
        """Open the settings screen."""

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
        self.store.set_setting("tui.pane", self._pane)
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


def _sidecar_of(item: ItemFinished) -> Path:
    """`{imageId}.txt` beside a downloaded image (the image's own name may differ)."""
    return Path(item.path).parent / f"{item.key.removeprefix('image:')}.txt"


def make_app(
    config: Config,
    *,
    urls: Sequence[str] = (),
    engine: Engine | None = None,
    store: Store | None = None,
    images: bool = False,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], datetime] = datetime.now,
) -> CivittuiApp:
    """Build the app (the CLI and the tests use this one factory).

    Args:
        config: the effective configuration.
        urls: URLs to queue at start.
        engine: an engine to drive; default: a new one over `store` that resumes the kept queue.
        store: the state store; default: `Store.open(config.state_path)`, closed on exit.
        images: draw image thumbnails (see `thumbnail.images_supported`).
        clock: monotonic seconds, for the gate countdown (fixed in snapshot tests).
        wall: local time, for failure ages (fixed in snapshot tests).

    Returns:
        The app, not yet running.

    Raises:
        CivittuiError: the state file, filter lists or kept queue cannot be used.
    """
    owns_store = store is None
    if store is None:
        store = Store.open(config.state_path)
    hooks: SyncHooks | None = None
    try:
        if engine is None:
            hooks = SyncHooks()
            engine = Engine(config, store, resume_queue=True, items=hooks.items(config, store))
        if urls:
            engine.add_urls(urls)  # a bad URL stops here, before the screen is taken over
        return CivittuiApp(
            config,
            engine,
            store,
            images=images,
            owns_store=owns_store,
            clock=clock,
            wall=wall,
            sync_hooks=hooks,
        )
    except BaseException:
        if owns_store:
            store.close()
        raise


def run_tui(config: Config, urls: Sequence[str]) -> int:
    """Run the full-screen app until the user quits.

    Args:
        config: the effective configuration.
        urls: URLs to queue at start (checked first: a bad one is an error before the screen).

    Returns:
        The exit code: 0 after a normal quit, 2 when the engine could not run.

    Raises:
        CivittuiError: bad URLs, state or filter lists (the CLI prints one line, exit 2).
    """
    images = images_supported()  # before Textual owns the terminal
    app = make_app(config, urls=urls, images=images)
    try:
        code = app.run()
    finally:
        app.close_store()
    return code if code is not None else (app.return_code or 0)
