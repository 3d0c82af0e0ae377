"""Building and running the app: the one factory the CLI and the tests use."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from civittui.config import Config
from civittui.engine.runner import Engine
from civittui.state import Store
from civittui.tui.app import CivittuiApp
from civittui.tui.library_controller import SyncHooks
from civittui.tui.widgets.thumbnail import images_supported

__all__ = ["make_app", "run_tui"]


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
