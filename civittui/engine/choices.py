"""Per-target choices: which versions, files, model types and content levels one URL mirrors.

Kept with the target in the state (a resumed queue and `retry` honour them) and applied by the
crawler. Defaults choose everything, as a target without choices always did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FILE_SIZES",
    "NSFW_LEVELS",
    "TargetChoices",
    "latest_version",
    "pick_file",
]

NSFW_LEVELS = ("none", "soft", "mature", "x")
FILE_SIZES = ("pruned", "full")

Json = dict[str, Any]

# CivitAI's own preference order when it picks "the" file of a version: format outweighs size,
# size outweighs precision (`getPrimaryFile`, src/server/utils/model-helpers.ts in
# civitai/civitai: weights format 100, size 10, fp 1).
_WEIGHTS = (("format", 100), ("size", 10), ("fp", 1))
# File types that are the model itself (not training data, a VAE or a config).
_MODEL_FILES = (None, "Model", "Pruned Model", "Diffusion Model", "UNet")


@dataclass(frozen=True, slots=True)
class TargetChoices:
    """What one target mirrors (the defaults: everything)."""

    latest: bool = False
    """Only the newest published version of each model (and its images)."""
    file_format: str | None = None
    """One file per version, preferring this `metadata.format` (`SafeTensor`, `PickleTensor`)."""
    file_size: str | None = None
    """One file per version, preferring this `metadata.size` (`pruned`, `full`)."""
    file_fp: str | None = None
    """One file per version, preferring this `metadata.fp` (`fp16`, `fp32`, `bf16`)."""
    types: tuple[str, ...] = ()
    """Model types to keep (`LORA`, `LoCon`); empty: the configured `model_types`."""
    nsfw: str | None = None
    """Content level of this target's listings; None: the configured `nsfw`."""

    @property
    def is_default(self) -> bool:
        return self == TargetChoices()

    @property
    def picks_file(self) -> bool:
        return bool(self.file_format or self.file_size or self.file_fp)

    def to_json(self) -> Json:
        """The non-default choices as JSON (what the state keeps)."""
        out: Json = {}
        if self.latest:
            out["latest"] = True
        for name in ("file_format", "file_size", "file_fp", "nsfw"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.types:
            out["types"] = list(self.types)
        return out

    @classmethod
    def from_json(cls, data: object) -> TargetChoices:
        """Choices from the state; anything malformed reads as its default."""
        if not isinstance(data, Mapping):
            return cls()

        def text(name: str) -> str | None:
            value = data.get(name)
            return value if isinstance(value, str) and value else None

        types = data.get("types")
        nsfw = text("nsfw")
        return cls(
            latest=data.get("latest") is True,
            file_format=text("file_format"),
            file_size=text("file_size"),
            file_fp=text("file_fp"),
            types=tuple(t for t in types if isinstance(t, str) and t)
            if isinstance(types, list)
            else (),
            nsfw=nsfw if nsfw in NSFW_LEVELS else None,
        )

    def describe(self) -> str:
        """A short line for a queue row: `latest · SafeTensor pruned · LORA,LoCon · nsfw soft`."""
        parts: list[str] = []
        if self.latest:
            parts.append("latest")
        kind = " ".join(v for v in (self.file_format, self.file_size, self.file_fp) if v)
        if kind:
            parts.append(kind)
        if self.types:
            parts.append(",".join(self.types))
        if self.nsfw:
            parts.append(f"nsfw {self.nsfw}")
        return " · ".join(parts)


def _published(version: Json) -> str:
    value = version.get("publishedAt")
    return value if isinstance(value, str) else ""


def latest_version(versions: Iterable[Json]) -> Json | None:
    """The newest published version: the lowest `index` (CivitAI's order, 0 = newest), else the
    latest `publishedAt`, else the first listed."""
    listed = [v for v in versions if isinstance(v, dict)]
    if not listed:
        return None
    indexed = [v for v in listed if isinstance(v.get("index"), int)]
    if indexed:
        return min(indexed, key=lambda v: int(v["index"]))
    dated = [v for v in listed if _published(v)]
    return max(dated, key=_published) if dated else listed[0]


def pick_file(files: Iterable[Json], choices: TargetChoices) -> Json | None:
    """The one model file of a version the choices prefer (CivitAI's `getPrimaryFile` scoring),
    ties to the primary file, then the lowest id; None when the version has no model file."""
    wanted = {"format": choices.file_format, "size": choices.file_size, "fp": choices.file_fp}
    listed = [f for f in files if isinstance(f, dict) and isinstance(f.get("id"), int)]
    models = [f for f in listed if f.get("type") in _MODEL_FILES]
    if not models:
        return None

    def score(file: Json) -> tuple[int, bool, int]:
        meta = file.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        points = sum(
            weight
            for name, weight in _WEIGHTS
            if wanted[name] and str(meta.get(name, "")).lower() == str(wanted[name]).lower()
        )
        return points, file.get("primary") is True, -int(file["id"])

    return max(models, key=score)
