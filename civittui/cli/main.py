"""Commands and options -> engine calls. No logic of its own beyond wiring and exit codes.

Exit codes (design.md §2): 0 all verified, 1 some items failed (recorded, retryable) or batch
lines were skipped, 2 bad input or configuration, 130 interrupted (state saved); a headless run
ended by SIGTERM or SIGHUP stops the same way and exits 128 + the signal's number (143, 129).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from civittui import __version__
from civittui.cli.choices import CHOICE_FLAGS, add_choices, choices_from
from civittui.cli.library import add_library_commands, cmd_adopt, cmd_dataset, cmd_sync
from civittui.cli.run import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, run_headless
from civittui.cli.status import cmd_failures
from civittui.config import Config, describe, load_config, to_json_dict
from civittui.config.values import DOWNLOADERS, NSFW_LEVELS
from civittui.errors import CivittuiError, ConfigError, UrlError
from civittui.textsafe import display_text, json_text

__all__ = ["main"]

COMMANDS = (
    "get",
    "batch",
    "retry",
    "failures",
    "refilter",
    "tokens",
    "dataset",
    "config",
    "status",
    "adopt",
    "sync",
)

# Common options: accepted before or after the subcommand (users type both).
_COMMON: list[tuple[str, str, dict[str, Any]]] = [
    ("--config", "config file (default: $CIVITTUI_CONFIG or the user config dir)", {}),
    ("--root", "where the mirror lives", {}),
    ("--lora-dir", "the WebUI's models/Lora folder (LoRA files are placed there too)", {}),
    ("--downloader", "download engine for model files", {"choices": DOWNLOADERS}),
    ("--api-key", "CivitAI API key (prefer CIVITAI_API_KEY)", {}),
    ("--api-base", "CivitAI base URL", {}),
    ("--min-interval", "seconds between API request starts", {}),
    ("--nsfw", "content levels to fetch", {"choices": NSFW_LEVELS}),
]
_OPTION_KEYS = {
    "root": "root",
    "lora_dir": "lora_dir",
    "downloader": "downloader",
    "api_key": "api_key",
    "api_base": "api_base",
    "min_interval": "rate.min_interval",
    "nsfw": "nsfw",
}


def _add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("common options")
    for flag, help_text, extra in _COMMON:
        group.add_argument(flag, help=help_text, default=default, **extra)
    group.add_argument(
        "--json", action="store_true", default=default or False, help="machine-readable output"
    )
    group.add_argument("-q", "--quiet", action="store_true", default=default or False)


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage + exiting, so errors stay one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (the TUI form is `civittui [URL…]`, see `main`)."""
    parser = _Parser(
        prog="civittui",
        description="Mirror CivitAI creators, models, posts and images to disk.",
        epilog="Without a command, the full-screen app starts (URLs given are queued).",
    )
    parser.add_argument("--version", action="version", version=f"civittui {__version__}")
    _add_common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_common(p, suppress=True)
        return p

    tui = command("tui", "the full-screen app (default)")
    tui.add_argument("urls", nargs="*", metavar="URL")

    get = command("get", "download URLs headless, progress on stderr")
    get.add_argument("urls", nargs="*", metavar="URL")
    get.add_argument("--batch", type=Path, metavar="FILE", help="also the URLs in FILE")
    for p in (get, batch := command("batch", "download the URLs in FILE (one a line)")):
        p.add_argument("--dry-run", action="store_true", help="crawl only: plan, nothing fetched")
        p.add_argument("--report", type=Path, metavar="FILE", help="write a JSON run report")
        add_choices(p)
        p.add_argument(
            "--strict",
            action="store_true",
            help="a batch line that is not a URL stops everything (default: skipped, exit 1)",
        )
    batch.add_argument("file", type=Path, metavar="FILE")

    retry = command("retry", "re-run recorded failures")
    retry.add_argument(
        "keys", nargs="*", metavar="KEY", help="item or target keys, e.g. file:123, user:alice"
    )
    retry.add_argument(
        "--all",
        action="store_true",
        help="every failure (not permanent ones), and what a stopped run left unfinished",
    )
    retry.add_argument(
        "--include-permanent",
        action="store_true",
        help="with --all: 404/410 and known-bad files (the same wrong bytes twice) too",
    )
    retry.add_argument("--report", type=Path, metavar="FILE")

    command("failures", "list recorded failures")
    refilter = command("refilter", "re-apply the filter lists to saved image metadata")
    refilter.add_argument("--dry-run", action="store_true", help="show what would change")
    tokens = command("tokens", "prompt-token frequencies with their filter category")
    tokens.add_argument("--top", type=int, default=50, metavar="N")
    tokens.add_argument("--csv", type=Path, metavar="FILE")
    tokens.add_argument("--uncategorized", action="store_true", help="only tokens no list has")
    dataset = command("dataset", "a training folder: saved images with caption files")
    dataset.add_argument("out", type=Path, metavar="OUT", help="the folder to fill")
    dataset.add_argument("urls", nargs="*", metavar="URL", help="only these targets' images")
    dataset.add_argument(
        "--trigger", action="store_true", help="start captions with the version's trigger words"
    )
    command("config", "effective configuration and where each value came from")
    status = command("status", "completeness audit: what the API lists vs what is on disk")
    status.add_argument("urls", nargs="*", metavar="URL")
    status.add_argument(
        "--reset-state",
        action="store_true",
        help="move an unreadable state file aside (files on disk are re-verified next run)",
    )
    add_library_commands(command)
    return parser


_VALUE_FLAGS = {flag for flag, _, _ in _COMMON} | {"--batch", "--report", "--top", "--csv"}
_VALUE_FLAGS |= CHOICE_FLAGS | {"--every"}


def _with_command(argv: list[str]) -> list[str]:
    """Insert the implicit `tui` command when the first positional is not a command."""
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            break
        if token.startswith("-"):
            if token in _VALUE_FLAGS:
                index += 1
            index += 1
            continue
        if token in COMMANDS or token == "tui":
            return argv
        break
    if any(t in ("-h", "--help", "--version") for t in argv[:index]):
        return argv
    return [*argv[:index], "tui", *argv[index:]]


def _config_from(args: argparse.Namespace) -> Config:
    options = {key: getattr(args, attr, None) for attr, key in _OPTION_KEYS.items()}
    config_path = Path(args.config) if getattr(args, "config", None) else None
    return load_config(config_path=config_path, options=options)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `civittui` console script and `python -m civittui`."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(_with_command(args_list))
        config = _config_from(args)
        handler = _HANDLERS[args.command or "tui"]
        return handler(config, args)
    except CivittuiError as exc:
        print(display_text(f"civittui: {exc}"), file=sys.stderr)  # may quote the server
        return exc.exit_code if exc.exit_code != 1 else EXIT_USAGE
    except KeyboardInterrupt:
        print("civittui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


# -- commands -------------------------------------------------------------------------------


def _cmd_tui(config: Config, args: argparse.Namespace) -> int:
    from civittui.runlock import RunLock
    from civittui.tui.launch import run_tui

    for url in args.urls:
        _check_url(config, url)
    with RunLock(config.state_path.with_name("lock")):
        return run_tui(config, list(args.urls))


def _check_url(config: Config, url: str) -> None:

    from civittui.civitai.urls import parse_url

    parse_url(url, extra_hosts=(config.api_host,))


def _cmd_get(config: Config, args: argparse.Namespace) -> int:

    from civittui.civitai.urls import read_batch_file, read_batch_lines

    urls = list(getattr(args, "urls", None) or [])
    batch = getattr(args, "batch", None) or getattr(args, "file", None)
    hosts = (config.api_host,)
    bad_lines: list[str] = []
    if batch is not None and args.strict:
        urls += read_batch_file(batch, extra_hosts=hosts)
    elif batch is not None:
        found, bad_lines = read_batch_lines(batch, extra_hosts=hosts)
        urls += found
        for line in bad_lines:  # said now, and again under the summary
            print(display_text(f"civittui: skipped {line}"), file=sys.stderr)
    if not urls:
        raise UrlError("nothing to do: give at least one URL or --batch FILE")
    code = run_headless(config, args, urls=urls, choices=choices_from(args))
    if bad_lines:
        print(f"civittui: {len(bad_lines)} batch line(s) skipped:", file=sys.stderr)
        for line in bad_lines:
            print(display_text(f"  {line}"), file=sys.stderr)
        if code == EXIT_OK:
            code = EXIT_FAILED
    return code


def _is_target_key(key: str) -> bool:
    from civittui.civitai.urls import TargetKind

    kind, _, rest = key.partition(":")
    return bool(rest) and kind in {k.value for k in TargetKind}


def _cmd_retry(config: Config, args: argparse.Namespace) -> int:
    from civittui.state import parse_key

    if not args.keys and not args.all:
        raise ConfigError("retry: give item keys (see `civittui failures`) or --all")
    for key in args.keys:
        try:
            parse_key(key)
        except ValueError:
            if not _is_target_key(key):
                raise ConfigError(
                    f"retry: {key!r} is not an item key (image:ID, file:ID or meta:ID)"
                    " or a target key (user:NAME, model:ID, post:ID, ...)"
                ) from None

    def retry(engine: Any) -> int:
        keys = list(args.keys) or None
        return int(engine.retry(keys, include_permanent=args.include_permanent))

    return run_headless(config, args, retry=retry)


def _lines(text: str) -> str:
    """Several lines of output, each made safe for the terminal on its own."""
    return "\n".join(display_text(line) for line in text.split("\n"))


def _cmd_refilter(config: Config, args: argparse.Namespace) -> int:
    from civittui.prompts.tools import format_refilter_report, refilter
    from civittui.prompts.user_lists import load_filters

    filters = load_filters(config)
    report = refilter(config.root, filters, dry_run=args.dry_run)
    if args.dry_run and not args.quiet:
        for path in report.changes:
            print(display_text(f"would change {path}"))
    print(_lines(format_refilter_report(report)))
    return EXIT_OK


def _cmd_tokens(config: Config, args: argparse.Namespace) -> int:
    from civittui.prompts.tools import (
        TokenCount,
        count_tokens,
        format_token_table,
        write_tokens_csv,
    )
    from civittui.prompts.user_lists import load_filters

    filters = load_filters(config)
    counts = count_tokens(config.root, filters, top=args.top, uncategorized_only=args.uncategorized)
    if args.csv is not None:
        write_tokens_csv(counts, args.csv)
    if args.json:
        rows = [{"token": c.token, "count": c.count, "category": c.category} for c in counts]
        print(json_text(rows))
    else:
        shown = [TokenCount(display_text(c.token), c.count, c.category) for c in counts]
        print(format_token_table(shown))
    return EXIT_OK


def _cmd_config(config: Config, args: argparse.Namespace) -> int:
    if args.json:
        print(json_text(to_json_dict(config), default=str))
        return EXIT_OK
    rows = describe(config)
    width = max(len(key) for key, _, _ in rows)
    for key, value, source in rows:
        print(display_text(f"{key:<{width}}  {value}  [{source}]"))
    return EXIT_OK


def _cmd_status(config: Config, args: argparse.Namespace) -> int:
    from civittui.cli.status import run_status

    if args.reset_state:
        from civittui.runlock import RunLock
        from civittui.state import quarantine

        if not config.state_path.exists():
            print(f"no state file at {config.state_path}")
            return EXIT_OK
        # Moving the state aside is a write: only with the lock, never under a running get.
        with RunLock(config.state_path.with_name("lock")):
            moved = quarantine(config.state_path)
        print(
            f"moved {config.state_path} to {moved}; the next run re-verifies what is on disk "
            "and fetches only what is missing"
        )
        return EXIT_OK
    return run_status(config, list(args.urls), as_json=bool(args.json), quiet=bool(args.quiet))


_HANDLERS: dict[str, Callable[[Config, argparse.Namespace], int]] = {
    "tui": _cmd_tui,
    "get": _cmd_get,
    "batch": _cmd_get,
    "retry": _cmd_retry,
    "failures": cmd_failures,
    "refilter": _cmd_refilter,
    "tokens": _cmd_tokens,
    "dataset": cmd_dataset,
    "config": _cmd_config,
    "status": _cmd_status,
    "adopt": cmd_adopt,
    "sync": cmd_sync,
}
