"""The selected image: a real thumbnail where the terminal can show one, a text card elsewhere.

Pictures need the optional `textual-image` package (`civittui[images]`) and a terminal speaking
the Kitty or Sixel graphics protocol; the app decides (`images_supported()`) before it starts,
because `textual-image` must query the terminal before Textual takes it over.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Container
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from civittui.tui.prompt_source import PromptEntry

__all__ = ["Thumbnail", "images_supported"]


def images_supported() -> bool:
    """True when textual-image is installed and the terminal shows pixels (Kitty/Sixel).

    Call before the app starts: importing textual-image queries the terminal.
    """
    try:
        from textual_image import renderable
    except ImportError:
        return False
    return renderable.Image not in (renderable.unicode.Image, renderable.halfcell.Image)


class Thumbnail(Container):
    """Shows the selected prompt's image or a text placeholder.

    Args:
        images: draw pictures (see `images_supported`); False always draws the placeholder.
    """

    class Loaded(Message):
        """A picture was read from disk (in a thread)."""

        def __init__(self, image_id: int, picture: Any) -> None:
            super().__init__()
            self.image_id = image_id
            self.picture = picture

    def __init__(self, *, images: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.images = images
        self._entry: PromptEntry | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="thumb-text", classes="thumb-placeholder", markup=False)

    def show(self, entry: PromptEntry | None) -> None:
        """Show `entry`'s image (or its placeholder); None clears."""
        self._entry = entry
        text = self.query_one("#thumb-text", Static)
        text.display = True
        if self.images:
            from textual_image.widget import Image

            self.query(Image).remove()
        if entry is None:
            text.update("")
            return
        size = f"{entry.width}×{entry.height}" if entry.width and entry.height else "size unknown"
        text.update(f"image {entry.image_id}\n{size}")
        if self.images:
            self._load(entry)

    @work(thread=True, exclusive=True, group="thumbnail")
    def _load(self, entry: PromptEntry) -> None:
        from PIL import Image as PILImage

        path = entry.image_path()
        if path is None or get_current_worker().is_cancelled:
            return
        try:
            with PILImage.open(path) as opened:
                opened.thumbnail((512, 512))
                picture = opened.copy()
        except OSError:
            return  # a video or a damaged file: the text card stays
        self.post_message(self.Loaded(entry.image_id, picture))

    def on_thumbnail_loaded(self, message: Thumbnail.Loaded) -> None:
        if self._entry is None or message.image_id != self._entry.image_id:
            return
        from textual_image.widget import Image

        self.query(Image).remove()
        self.query_one("#thumb-text").display = False
        self.mount(Image(message.picture, classes="thumb-image"))
