"""Work over saved image metadata: re-apply filter lists (`refilter`) and count tokens (`tokens`).

Image metadata files are ``{imageId}.txt`` (UTF-8 JSON, design §5) under ``{root}/Posts`` and
``{root}/Users``. `refilter` rewrites only files whose ``filtered`` block would change, each one
atomically (a temporary file beside it, then ``os.replace``), keeping every other key, key order
and the file's indentation. Files are not fsynced one by one: at 100,000 files that would cost
minutes, and ``os.replace`` already guarantees a reader sees the old or the new file, whole.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from civittui.atomicio import replace_file
from civittui.filters import FilterSet
from civittui.prompt_syntax import normalize, separator_kind, split_pieces

__all__ = [
    "RefilterReport",
    "TokenCount",
    "count_tokens",
    "csv_cell",
    "format_refilter_report",
    "format_token_table",
    "iter_sidecars",
    "refilter",
    "write_tokens_csv",
]

_SIDECAR_NAME = re.compile(r"\d+\.txt")
_TOP_DIRS = ("Posts", "Users")
_PROGRESS_EVERY = 500
_WRITERS = 8
_MAX_PENDING = 256

Progress = Callable[[int, int | None], None]


@dataclass
class RefilterReport:
    """What `refilter` did (or, with ``dry_run``, would do).

    Attributes:
        scanned: metadata files looked at.
        changed: files rewritten (or that would be).
        unchanged: files already filtered with the current lists.
        malformed: files left untouched because they are not image metadata, with the reason.
        dry_run: nothing was written.
        changes: the files counted in `changed`.
        failed: files that needed rewriting but could not be written, with the reason; each
            keeps its original bytes.
    """

    scanned: int = 0
    changed: int = 0
    unchanged: int = 0
    malformed: list[tuple[Path, str]] = field(default_factory=list)
    dry_run: bool = False
    changes: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TokenCount:
    """How often a normalized token occurs across saved prompts.

    Attributes:
        token: the token's normal form.
        count: occurrences (a token repeated in one prompt counts each time).
        category: the filter category it falls in, or None.
    """

    token: str
    count: int
    category: str | None


def iter_sidecars(root: Path) -> Iterator[Path]:
    """Every image metadata file (``{digits}.txt``) under ``root/Posts`` and ``root/Users``.

    Hidden directories (``.civittui``) and model metadata (``model_meta_v*.txt``) are skipped.

    Args:
        root: the download root.

    Yields:
        Paths in a stable order (directories and files sorted by name).
    """
    for top in _TOP_DIRS:
        base = Path(root) / top
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if _SIDECAR_NAME.fullmatch(name):
                    yield Path(dirpath, name)


def refilter(
    root: Path,
    filters: FilterSet,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> RefilterReport:
    """Re-apply filter lists to every saved image metadata file.

    Args:
        root: the download root.
        filters: the lists to apply.
        dry_run: count and list what would change, write nothing.
        progress: called with (files done, total files) every few hundred files and at the end.

    Returns:
        Counts of scanned, changed and unchanged files, and malformed or unwritable ones.
    """
    paths = list(iter_sidecars(root))
    total = len(paths)
    report = RefilterReport(dry_run=dry_run)
    if progress:
        progress(0, total)
    # Rewrites go to a few threads: renaming over a file waits for the disk (ext4 flushes the
    # new data first, about 1 ms a file), while reading and filtering stay on this thread.
    with ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="refilter") as pool:
        pending: deque[tuple[Path, Future[None]]] = deque()
        for done, path in enumerate(paths, 1):
            report.scanned += 1
            data = _refiltered(path, filters, report)
            if data is not None:
                if dry_run:
                    report.changed += 1
                    report.changes.append(path)
                else:
                    pending.append((path, pool.submit(_replace, path, data)))
            while pending and (len(pending) > _MAX_PENDING or pending[0][1].done()):
                _settle(*pending.popleft(), report)
            if progress and (done % _PROGRESS_EVERY == 0 or done == total):
                progress(done, total)
        while pending:
            _settle(*pending.popleft(), report)
    return report


def _refiltered(path: Path, filters: FilterSet, report: RefilterReport) -> bytes | None:
    """The new bytes of one file, or None when it stays as it is (unchanged or malformed)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        report.malformed.append((path, f"cannot read: {exc.strerror or exc}"))
        return None
    data, problem = _parse_sidecar(raw)
    if data is None:
        report.malformed.append((path, problem))
        return None
    prompt, negative = data["prompt"], data.get("negativePrompt")
    block = filters.sidecar_block(prompt, negative)  # type: ignore[arg-type]
    if data.get("filtered") == block:
        report.unchanged += 1
        return None
    data["filtered"] = block
    return _dump_like(data, raw)


def _settle(path: Path, write: Future[None], report: RefilterReport) -> None:
    """Count a finished rewrite as changed, or as failed (the file keeps its old bytes)."""
    try:
        write.result()
    except OSError as exc:
        report.failed.append((path, f"cannot write: {exc.strerror or exc}"))
    else:
        report.changed += 1
        report.changes.append(path)


def _parse_sidecar(raw: bytes) -> tuple[dict[str, object] | None, str]:
    """The metadata of one file, or None and why it is not image metadata."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at line {exc.lineno})"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    if "prompt" not in data:
        return None, 'no "prompt" key'
    for key in ("prompt", "negativePrompt"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            return None, f'"{key}" is not text'
    return data, ""


def _dump_like(data: dict[str, object], original: bytes) -> bytes:
    """Serialize the way the original file was: indented or compact, final newline or not."""
    indented = original.lstrip()[1:3] in (b"\n ", b"\r\n")
    out = orjson.dumps(data, option=orjson.OPT_INDENT_2 if indented else 0)
    if original.endswith(b"\n"):
        out += b"\n"
    return out


def _replace(path: Path, data: bytes) -> None:
    """Write a file atomically: a temporary file beside it, then a rename over it."""
    temp = path.with_name(path.name + ".tmp")  # one fixed name: a leftover is reused
    try:
        with open(temp, "wb") as fh:
            fh.write(data)
        replace_file(temp, path)  # retried briefly on Windows while a reader holds the file
    except OSError:
        if temp.is_file():
            temp.unlink()
        raise


def count_tokens(
    root: Path,
    filters: FilterSet,
    *,
    top: int | None = None,
    uncategorized_only: bool = False,
    include_negative: bool = False,
) -> list[TokenCount]:
    """Count normalized tokens across the prompts of saved image metadata.

    Malformed files are skipped (`refilter` reports them).

    Args:
        root: the download root.
        filters: the lists that give each token its category.
        top: keep only the N most frequent (after `uncategorized_only`).
        uncategorized_only: leave out tokens some list already matches.
        include_negative: count negative prompts too.

    Returns:
        Counts, most frequent first, ties in token order.
    """
    counter: Counter[str] = Counter()
    keys = ("prompt", "negativePrompt") if include_negative else ("prompt",)
    for path in iter_sidecars(root):
        try:
            data, _ = _parse_sidecar(path.read_bytes())
        except OSError:
            continue
        if data is None:
            continue
        for key in keys:
            prompt = data.get(key)
            if isinstance(prompt, str):
                counter.update(_normal_tokens(prompt))
    counts = [TokenCount(t, n, filters.category_of(t)) for t, n in counter.items()]
    if uncategorized_only:
        counts = [c for c in counts if c.category is None]
    counts.sort(key=lambda c: (-c.count, c.token))
    return counts[:top] if top is not None else counts


def _normal_tokens(prompt: str) -> Iterator[str]:
    for index, piece in enumerate(split_pieces(prompt)):
        if index % 2 and separator_kind(piece):
            continue
        normal = normalize(piece.strip())
        if normal:
            yield normal


def write_tokens_csv(counts: Sequence[TokenCount], path: Path) -> None:
    """Write token counts as CSV: ``token,count,category`` (empty category when none).

    The file is UTF-8 with a byte-order mark, so spreadsheet programs show Korean and Japanese
    tokens correctly. Cells that would start a formula are neutralised (`csv_cell`).

    Args:
        counts: the counts to write, in order.
        path: the CSV file to create or replace.

    Raises:
        OSError: the file cannot be written.
    """
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["token", "count", "category"])
        writer.writerows([csv_cell(c.token), c.count, csv_cell(c.category or "")] for c in counts)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (`=cmd|' /C calc'!A0`).

    Prompts are written by strangers. OWASP's advice for CSV injection: a cell that starts
    with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, which spreadsheets
    read as "this is text" and hide.
    """
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def format_token_table(counts: Sequence[TokenCount]) -> str:
    """Token counts as aligned text lines: count, category (``-`` when none), token."""
    width = max((len(str(c.count)) for c in counts), default=1)
    cat_width = max((len(c.category or "-") for c in counts), default=1)
    return "\n".join(
        f"{c.count:>{width}}  {(c.category or '-'):<{cat_width}}  {c.token}" for c in counts
    )


def format_refilter_report(report: RefilterReport) -> str:
    """One summary line for `refilter`, then one line per malformed or unwritable file."""
    verb = "would change" if report.dry_run else "changed"
    lines = [
        f"{report.scanned} metadata files: {report.changed} {verb}, {report.unchanged} unchanged, "
        f"{len(report.malformed)} malformed, {len(report.failed)} failed"
    ]
    lines += [f"malformed: {path}: {reason}" for path, reason in report.malformed]
    lines += [f"failed: {path}: {reason}" for path, reason in report.failed]
    return "\n".join(lines)
