"""A fake CivitAI world whose creator names everything with terminal escapes, bidi and markup.

CivitAI lets creators choose model, file and post names and lets uploaders write any prompt
(civitai/civitai `src/server/schema/model.schema.ts` only bounds the length of `name`), so every
one of these strings can reach civittui as-is. Use with ``FakeCivitai(world=hostile_world)``.
"""

from __future__ import annotations

import re

from tests.fakecivitai import FakeCdn, World, make_default_world

OSC52 = "\x1b]52;c;cHduZWQ=\x07"
"""Writes "pwned" to the clipboard (through tmux too)."""
OSC_TITLE = "\x1b]0;pwned-title\x07"
"""Retitles the terminal window."""
CLEAR = "\x1b[2J"
"""Blanks the screen."""
C1_CSI = "\x9b31m"
"""The 8-bit CSI: red text on terminals that honour C1 controls."""
BIDI = "\u202egnp.exe\u202c \u2066iso\u2069 \u200fmark\u200e \u061c"
"""Overrides, isolates and marks that make a line read differently from what it holds."""
MARKUP = "Markup [/] [bold]loud[/bold] [link=x]"
"""Textual markup: a closing tag with nothing to close raises MarkupError when parsed."""

HOSTILE = f"Evil {OSC52}{OSC_TITLE}{CLEAR}{C1_CSI}{BIDI} {MARKUP}"
"""One string carrying every attack above."""

UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""What must never reach a terminal (newline and tab aside), checked independently of civittui."""

CREATOR = "mallory"


def hostile_world(files_cdn: FakeCdn, images_cdn: FakeCdn) -> World:
    """The default world plus ``mallory``: a model, its file, a post and prompts all hostile.

    The model's one file has a wrong hash, so a run records a failure named with hostile text;
    a second, archived model makes the engine post a notice quoting its (markup) name.
    """
    world = make_default_world(files_cdn, images_cdn)
    mallory = world.add_creator(CREATOR)
    model = world.add_model(mallory, HOSTILE, "LORA", files=0)
    version = model.versions[0]
    version.trained_words = [HOSTILE]
    world.add_file(version, f"{HOSTILE}.safetensors", wrong_hash=True, size=24 * 1024)
    # An archived model is announced with its name: the toast quotes the server's text.
    world.add_model(mallory, f"{MARKUP} {OSC52}", "LORA", mode="Archived", files=0)
    post = world.add_post(mallory, version, title=HOSTILE, images=2, kinds=["png"])
    for image in post.images:
        assert image.meta is not None
        image.meta["prompt"] = f"masterpiece, {HOSTILE},\nsecond line\t{OSC52}"
        image.meta["negativePrompt"] = f"lowres {CLEAR}{MARKUP}"
        image.meta["sampler"] = HOSTILE
    return world
