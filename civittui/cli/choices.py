"""Per-target choices on the command line: `--latest`, `--file-*`, `--types` (and `--nsfw`)."""

from __future__ import annotations

import argparse

from civittui.choices import FILE_SIZES, TargetChoices

__all__ = ["CHOICE_FLAGS", "add_choices", "choices_from"]

CHOICE_FLAGS = {"--file-format", "--file-size", "--file-fp", "--types"}
"""The choice options that take a value (see `_with_command` in `cli.main`)."""


def add_choices(parser: argparse.ArgumentParser) -> None:
    """Add the options that say what of each URL to mirror."""
    group = parser.add_argument_group("what to mirror of each URL (kept with the target)")
    group.add_argument("--latest", action="store_true", help="only the newest version of a model")
    group.add_argument(
        "--file-format", metavar="FORMAT", help="one file per version: SafeTensor, PickleTensor…"
    )
    group.add_argument(
        "--file-size", choices=FILE_SIZES, help="one file per version: pruned or full"
    )
    group.add_argument("--file-fp", metavar="FP", help="one file per version: fp16, fp32, bf16…")
    group.add_argument("--types", metavar="T,…", help="model types to keep, e.g. LORA,LoCon")


def choices_from(args: argparse.Namespace) -> TargetChoices:
    """The per-target choices `get`/`batch` were given (`--nsfw` counts as one too)."""
    types = [t.strip() for t in (getattr(args, "types", None) or "").split(",") if t.strip()]
    return TargetChoices(
        latest=bool(getattr(args, "latest", False)),
        file_format=getattr(args, "file_format", None) or None,
        file_size=getattr(args, "file_size", None) or None,
        file_fp=getattr(args, "file_fp", None) or None,
        types=tuple(types),
        nsfw=getattr(args, "nsfw", None) or None,
    )
