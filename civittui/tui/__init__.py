"""The full-screen Textual app (`civittui` with no subcommand).

Only this package imports Textual; it renders engine events and calls engine commands.
"""

from __future__ import annotations

from pathlib import Path

import civittui

__all__ = ["css_path"]


def css_path() -> Path:
    """`civittui.tcss`: inside the package when installed from a wheel, else the checkout's."""
    package = Path(civittui.__file__).resolve().parent
    installed = package / "civittui.tcss"
    return installed if installed.is_file() else package.parent / "civittui.tcss"
