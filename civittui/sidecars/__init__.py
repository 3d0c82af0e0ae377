"""The files written beside downloads: image metadata, model metadata, WebUI cards, LoRA copies.

All of it runs after a download is verified (design.md §8) and is pure file work: no network.

- `meta`: `image_sidecar` -> `{imageId}.txt` (JSON: the API's metadata, original and filtered
  prompt); `version_meta` / `version_meta_text` -> `model_meta_v{v}.json` / `.txt`.
- `lora`: `webui_card`, `place_lora`, `write_preview` -> `{lora_dir}/Users/{user}/{model}/`.
- `write_json_atomic` / `write_text_atomic` (from `fsio`) and `html_to_text` (from `htmltext`)
  are re-exported here, so the engine needs one import.
"""

from civittui.fsio import write_json_atomic, write_text_atomic
from civittui.htmltext import html_to_text
from civittui.sidecars.lora import (
    LORA_LINK_MODES,
    LORA_TYPES,
    is_lora_family,
    place_lora,
    sd_version,
    webui_card,
    write_preview,
)
from civittui.sidecars.meta import (
    human_size,
    image_sidecar,
    version_meta,
    version_meta_text,
    version_page_url,
)

__all__ = [
    "LORA_LINK_MODES",
    "LORA_TYPES",
    "html_to_text",
    "human_size",
    "image_sidecar",
    "is_lora_family",
    "place_lora",
    "sd_version",
    "version_meta",
    "version_meta_text",
    "version_page_url",
    "webui_card",
    "write_json_atomic",
    "write_preview",
    "write_text_atomic",
]
