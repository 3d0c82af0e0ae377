"""The Prompts pane: browse saved prompts, switch categories, edit lists, the token view."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Checkbox, Input, OptionList, Static, TextArea

from civittui.prompts.filters import shipped_filters_dir
from civittui.tui.app import CivittuiApp
from civittui.tui.launch import make_app
from civittui.tui.screens.choose import ChooseScreen
from civittui.tui.screens.confirm import ConfirmScreen
from civittui.tui.widgets.prompt_list import PromptList
from civittui.tui.widgets.prompts import PromptsPane
from civittui.tui.widgets.token_list import TokenList
from tests.fakecivitai import FakeCivitai
from tests.tui_support import tui_config, wait_until, write_sidecar

OLD = "masterpiece, 1girl, smile, red dress, nude, castle, sunset"
NEW = "best quality, 1girl, white shirt, smile, garden"


def _app(tmp_path: Path) -> CivittuiApp:
    config = tui_config(tmp_path)
    write_sidecar(config.root, 101, OLD, created_at="2026-10-01T10:00:00.000Z")
    write_sidecar(
        config.root, 202, NEW, folder="Users/bob/Some Model", created_at="2026-11-01T10:00:00Z"
    )
    return make_app(config)


def _filtered(app: CivittuiApp) -> str:
    return str(app.query_one("#prompt-filtered", Static).render())


async def _open_prompts(app: CivittuiApp, pilot) -> PromptList:  # type: ignore[no-untyped-def]
    prompt_list = app.query_one(PromptList)
    await wait_until(pilot, lambda: len(prompt_list.rows) == 2)
    await pilot.press("escape")  # out of the URL box
    prompt_list.focus()
    await pilot.pause()
    return prompt_list


async def test_prompts_are_listed_newest_first_with_the_filtered_prompt_beside(
    tmp_path: Path,
) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        prompt_list = await _open_prompts(app, pilot)
        assert [row.image_id for row in prompt_list.rows] == [202, 101]
        assert _filtered(app) == "1girl, smile, garden"
        await pilot.press("down")
        assert _filtered(app) == "1girl, smile, castle, sunset"
        removed = str(app.query_one("#prompt-removed", Static).render())
        assert "sex: nude" in removed and "clothes: red dress" in removed
        settings = str(app.query_one("#prompt-settings", Static).render())
        assert "seed" in settings and "1335" in settings and "832×1216" in settings
        placeholder = str(app.query_one("#thumb-text", Static).render())
        assert "image 101" in placeholder
        await pilot.press("ctrl+q")


async def test_settings_show_objects_by_name_and_either_clip_skip_key(tmp_path: Path) -> None:
    # ComfyUI uploads give `Model` as an object; A1111 infotext says "Clip skip". Both are
    # strangers' text: one line each, no control characters, long values cut.
    config = tui_config(tmp_path)
    extra = {
        "Model": {"name": "dreamshaper_8", "hash": "879db523c3"},
        "Clip skip": "2",
        "sampler": "Euler\x1b]52;c;aGk=\x07 " + "a" * 300,
    }
    write_sidecar(config.root, 101, OLD, meta_extra=extra, created_at="2026-10-01T10:00:00Z")
    write_sidecar(config.root, 202, NEW, folder="Users/bob/Some Model")
    app = make_app(config)
    async with app.run_test(size=(160, 40)) as pilot:
        prompt_list = await _open_prompts(app, pilot)
        assert [row.image_id for row in prompt_list.rows] == [202, 101]
        await pilot.press("down")
        settings = str(app.query_one("#prompt-settings", Static).render())
        lines = dict(line.split(maxsplit=1) for line in settings.splitlines() if " " in line)
        assert lines["model"] == "dreamshaper_8"
        assert settings.count("clip skip") == 1 and "clip skip 2" in " ".join(settings.split())
        assert "\x1b" not in settings and "\x07" not in settings
        assert all(len(line) <= 10 + 120 for line in settings.splitlines())
        assert "a" * 119 not in settings and "…" in settings
        await pilot.press("ctrl+q")


async def test_switching_a_category_off_keeps_its_tokens_and_is_remembered(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        prompt_list = await _open_prompts(app, pilot)
        prompt_list.cursor = 1
        await pilot.pause()
        switch = next(c for c in app.query(Checkbox) if c.name == "clothes")
        switch.focus()
        await pilot.press("space")  # toggle: clothes off
        await pilot.pause()
        assert app.query_one(PromptsPane).enabled == {"sex", "etc"}
        assert _filtered(app) == "1girl, smile, red dress, castle, sunset"
        await pilot.press("ctrl+q")
    again = make_app(tui_config(tmp_path))
    async with again.run_test(size=(120, 40)) as pilot:
        await _open_prompts(again, pilot)
        assert again.query_one(PromptsPane).enabled == {"sex", "etc"}
        await pilot.press("ctrl+q")


async def test_editing_a_list_re_renders_every_prompt_and_leaves_the_shipped_list_alone(
    tmp_path: Path,
) -> None:
    app = _app(tmp_path)
    shipped = (shipped_filters_dir() / "etc.txt").read_bytes()
    async with app.run_test(size=(120, 40)) as pilot:
        prompt_list = await _open_prompts(app, pilot)
        before = [list(prompt_list.render_line(y)) for y in range(2)]
        await pilot.press("e")
        assert isinstance(app.screen, ChooseScreen)
        options = app.screen.query_one(OptionList)
        options.highlighted = 2  # etc
        await pilot.press("enter")
        area = app.query_one("#filter-text", TextArea)
        assert app.focused is area
        assert area.text.startswith("# etc")  # a copy of the shipped list to start from
        area.move_cursor(area.document.end)
        area.insert("\nsmile\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = tmp_path / "filters" / "etc.txt"
        assert saved.read_text("utf-8").splitlines()[-1] == "smile"
        assert (shipped_filters_dir() / "etc.txt").read_bytes() == shipped
        assert _filtered(app) == "1girl, garden"
        after = [list(prompt_list.render_line(y)) for y in range(2)]

        # the same text, but "smile" is now marked as removed in every visible row
        def text(row: list) -> str:
            return "".join(segment.text for segment in row)

        def marked(row: list) -> list[str]:
            return [segment.text for segment in row if segment.style and segment.style.strike]

        assert [text(row) for row in after] == [text(row) for row in before]
        assert "smile" not in marked(before[0]) + marked(before[1])
        assert "smile" in marked(after[0]) and "smile" in marked(after[1])
        # a term that can never match is refused and nothing is written
        area.insert("\n*\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        status = str(app.query_one("#editor-status", Static).render())
        assert "matches every token" in status
        assert "*" not in saved.read_text("utf-8").splitlines()
        # Esc with unsaved edits asks first; "keep editing" keeps them
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.query_one("#prompt-side").current == "filter-editor"
        assert area.text.rstrip().endswith("*") and app.focused is area
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")  # discard
        await pilot.pause()
        assert app.query_one("#prompt-side").current == "prompt-detail"
        assert "*" not in saved.read_text("utf-8").splitlines()
        # saved edits close at once
        await pilot.press("e")
        app.screen.query_one(OptionList).highlighted = 2
        await pilot.press("enter")
        area.insert("\nfrown\n")
        await pilot.press("ctrl+s", "escape")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.query_one("#prompt-side").current == "prompt-detail"
        await pilot.press("ctrl+q")


async def test_token_view_counts_tokens_and_a_adds_one_to_a_list(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _open_prompts(app, pilot)
        await pilot.press("t")
        tokens = app.query_one(TokenList)
        await wait_until(pilot, lambda: len(tokens.rows) > 0)
        counts = {row.token: (row.count, row.category) for row in tokens.rows}
        assert counts["1girl"] == (2, None)
        assert counts["smile"] == (2, None)
        assert counts["nude"] == (1, "sex")
        tokens.cursor = tokens.index_of("castle") or 0
        await pilot.press("a")
        assert isinstance(app.screen, ChooseScreen)
        app.screen.query_one(OptionList).highlighted = 2  # etc
        await pilot.press("enter")
        await pilot.pause()
        assert "castle" in (tmp_path / "filters" / "etc.txt").read_text("utf-8").splitlines()
        assert {row.token: row.category for row in tokens.rows}["castle"] == "etc"
        await pilot.press("t")  # back to the prompt, which lost "castle" too
        await pilot.press("down")
        assert _filtered(app) == "1girl, smile, sunset"
        await pilot.press("ctrl+q")


def _line(widget: PromptList, y: int) -> str:
    return "".join(segment.text for segment in widget.render_line(y))


async def test_search_narrows_the_list(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        prompt_list = await _open_prompts(app, pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, Input) and app.focused.id == "prompt-search"
        await pilot.press(*"castle")
        assert [row.image_id for row in prompt_list.rows] == [101]
        await pilot.press("enter")
        assert app.focused is prompt_list
        assert _filtered(app) == "1girl, smile, castle, sunset"
        # a search with no match says so (there are saved prompts)
        await pilot.press("slash", *"zzz")
        assert prompt_list.rows == []
        assert "No saved prompt matches “zzz”." in _line(prompt_list, 0)
        await pilot.press("ctrl+q")


async def test_prompts_of_a_running_download_appear_live_without_a_reload(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    config = tui_config(tmp_path, fake_civitai)
    write_sidecar(config.root, 101, OLD, created_at="2026-10-01T10:00:00.000Z")
    post = fake_civitai.world.posts_of(fake_civitai.world.creator("carol"))[0]
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        prompt_list = app.query_one(PromptList)
        await wait_until(pilot, lambda: len(prompt_list.rows) == 1)
        app.add_urls([f"{fake_civitai.api_base}/posts/{post.id}"])
        wanted = {image.id for image in post.images} | {101}
        await wait_until(pilot, lambda: {row.image_id for row in prompt_list.rows} == wanted)
        pane = app.query_one(PromptsPane)
        assert pane.border_subtitle == f"{len(wanted)} of {len(wanted)}"
        assert not [w for w in app.workers if w.group == "prompts" and w.is_running]
        await pilot.press("ctrl+q")
