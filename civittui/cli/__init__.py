"""The headless command line: commands and options become engine calls; all printing is here."""

from civittui.cli.main import main

__all__ = ["main"]
