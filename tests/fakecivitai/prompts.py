"""Realistic generation metadata (A1111 / ComfyUI style) for fake images."""

from __future__ import annotations

from typing import Any

PROMPTS: list[tuple[str, str]] = [
    (
        "masterpiece, best quality, (1girl:1.2), maid, maid apron, (frills:0.8), "
        "looking at viewer, smile, <lora:maid_classic:0.8>, indoors, window light",
        "lowres, (worst quality:1.4), bad anatomy, bad hands, text, watermark",
    ),
    (
        "score_9, score_8_up, score_7_up, source_anime, 1girl, solo, maid headdress, "
        "black dress, white apron, thighhighs, [blush], (detailed eyes:1.1), "
        "<lora:maid_classic_pony:1>",
        "score_4, score_5, score_6, 3d, realistic, monochrome",
    ),
    (
        "a cozy cafe interior, warm lighting, wooden tables\nBREAK\n"
        "1girl, waitress, holding tray, {smile}, depth of field, bokeh",
        "blurry, jpeg artifacts, extra fingers",
    ),
    (
        "메이드, 클래식 메이드복, 미소, 고품질, 걸작, (하얀 앞치마:1.1), 실내",
        "저화질, 흐림",
    ),
    (
        "メイド、クラシックなメイド服、笑顔、最高品質、(白いエプロン:1.2)、室内、窓の光",
        "低品質、ぼやけ",
    ),
    (
        "photo of a woman in a victorian maid outfit, 85mm, f/1.8, film grain, "
        "<lora:film_grain_v2:0.6>, <lyco:lighting_locon:0.4>, (cinematic lighting)",
        "cartoon, anime, painting, (deformed:1.3), nude",
    ),
    (
        "landscape, mountains at sunset, dramatic clouds, volumetric light, "
        "highly detailed, 8k, artstation",
        "",
    ),
    (
        "1boy, butler, tailcoat, white gloves, holding teacup, elegant, "
        "(masterpiece:1.3), embedding:easynegative",
        "easynegative, (bad_prompt_version2:0.8)",
    ),
]

SAMPLERS = ["DPM++ 2M Karras", "Euler a", "DPM++ SDE Karras", "DDIM", "UniPC"]
CHECKPOINTS = [
    ("boleromix_XL_V1.3", "afaf521da2"),
    ("ponyDiffusionV6XL", "67ab2fd8ec"),
    ("v1-5-pruned-emaonly", "6ce0161689"),
]


def make_meta(seed: int, width: int, height: int, lora_version_id: int | None) -> dict[str, Any]:
    """Deterministic generation parameters for one image."""
    prompt, negative = PROMPTS[seed % len(PROMPTS)]
    model, model_hash = CHECKPOINTS[seed % len(CHECKPOINTS)]
    meta: dict[str, Any] = {
        "prompt": prompt,
        "negativePrompt": negative,
        "seed": 1_000_000_007 * (seed + 1) % 4_294_967_291,
        "steps": 20 + seed % 15,
        "sampler": SAMPLERS[seed % len(SAMPLERS)],
        "cfgScale": [7, 6.5, 5, 4.5][seed % 4],
        "Size": f"{width}x{height}",
        "Model": model,
        "Model hash": model_hash,
        "Clip skip": str(1 + seed % 2),
    }
    if seed % 7 == 5:
        # ComfyUI-made uploads carry `Model` as an object, not the A1111 string.
        meta["Model"] = {"name": model, "hash": model_hash}
    if lora_version_id is not None:
        meta["civitaiResources"] = [
            {"type": "lora", "weight": 0.8, "modelVersionId": lora_version_id}
        ]
    if seed % 3 == 0:
        meta["hashes"] = {"model": model_hash}
    return meta
