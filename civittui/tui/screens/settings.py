"""The settings screen: the few config values a person changes most, written to the config file."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from civittui.config import Config, default_config_path, write_config_values
from civittui.config.values import DOWNLOADERS
from civittui.errors import ConfigError
from civittui.textsafe import display_text

__all__ = ["SettingsScreen", "settings_path"]


def settings_path(config: Config) -> Path:
    """The file the settings screen writes: the config file in use, else the default one."""
    return config.config_file or default_config_path()


def _with_values(config: Config, values: dict[str, object]) -> Config:
    """`config` with the values the form saved (they were validated when written)."""
    api_key = values.get("api_key")
    rate, concurrency = config.rate, config.concurrency
    with suppress(ValueError):
        rate = replace(rate, min_interval=float(str(values.get("rate.min_interval"))))
    with suppress(ValueError):
        concurrency = replace(concurrency, images=int(str(values.get("concurrency.images"))))
    with suppress(ValueError):
        concurrency = replace(concurrency, files=int(str(values.get("concurrency.files"))))
    return replace(
        config,
        api_key=api_key if isinstance(api_key, str) and api_key else config.api_key,
        rate=rate,
        concurrency=concurrency,
    )


class SettingsScreen(ModalScreen[Path | None]):
    """Edit root, lora_dir, downloader, API key and min_interval; dismisses with the file written.

    The API key, `min_interval` and `[concurrency]` apply at once; folders and the downloader
    from the next start.

    Args:
        config: the effective configuration (the form's initial values).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="settings.save", tooltip="Write the config file"),
        Binding("escape", "cancel", "Cancel", id="settings.cancel", tooltip="Close, no changes"),
    ]

    def __init__(self, config: Config) -> None:
        super().__init__()
        self._config = config
        self.saved: Config | None = None
        """The configuration with the saved values (set when Save wrote the file)."""

    def compose(self) -> ComposeResult:
        config = self._config
        path = settings_path(config)
        with Vertical(id="settings-dialog", classes="dialog"):
            yield Static("Settings", classes="dialog-title")
            with VerticalScroll():
                yield Label("Root folder (downloads land here)")
                yield Input(str(config.root), id="root")
                yield Label("LoRA folder (your WebUI's models/Lora; empty = none)")
                yield Input(str(config.lora_dir or ""), id="lora_dir")
                yield Label("Downloader")
                yield Select(
                    [(name, name) for name in DOWNLOADERS],
                    value=config.downloader,
                    allow_blank=False,
                    id="downloader",
                )
                yield Label(
                    "API key" + (" (set; leave empty to keep it)" if config.api_key else "")
                )
                yield Input("", password=True, placeholder="paste a CivitAI API key", id="api_key")
                yield Label("Seconds between API calls (min_interval)")
                yield Input(f"{config.rate.min_interval:g}", type="number", id="min_interval")
                yield Label("Images downloaded at once / model files downloaded at once")
                with Horizontal(classes="settings-pair"):
                    yield Input(str(config.concurrency.images), type="integer", id="images")
                    yield Input(str(config.concurrency.files), type="integer", id="files")
            yield Static("", id="settings-error", classes="url-error", markup=False)
            yield Static(
                f"Saved to {path} (mode 0600). The API key, the interval and the parallel "
                "downloads apply at once; folders and the downloader from the next start.",
                classes="hint",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#settings-error").display = False

    def values(self) -> dict[str, object]:
        """The form as config keys (None = leave the file's value alone)."""
        api_key = self.query_one("#api_key", Input).value.strip()
        downloader = self.query_one("#downloader", Select).value
        return {
            "root": self.query_one("#root", Input).value.strip(),
            "lora_dir": self.query_one("#lora_dir", Input).value.strip(),
            "downloader": str(downloader),
            "api_key": api_key or None,
            "rate.min_interval": self.query_one("#min_interval", Input).value.strip(),
            "concurrency.images": self.query_one("#images", Input).value.strip(),
            "concurrency.files": self.query_one("#files", Input).value.strip(),
        }

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Validate and write the values; stay open with the error when one is wrong."""
        path = settings_path(self._config)
        try:
            values = self.values()
            write_config_values(path, values)
        except ConfigError as exc:
            error = self.query_one("#settings-error", Static)
            error.update(display_text(str(exc)))
            error.display = True
            return
        self.saved = _with_values(self._config, values)
        self.dismiss(path)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without writing."""
        self.dismiss(None)
