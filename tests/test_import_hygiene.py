"""The engine side never loads Textual: headless runs stay light and the layers stay apart."""

from __future__ import annotations

import subprocess
import sys

ENGINE_MODULES = [
    "civittui.cli",
    "civittui.cli.run",
    "civittui.events",
    "civittui.fsio",
    "civittui.engine.runner",
    "civittui.engine.audit",
    "civittui.download.builtin",
    "civittui.download.idm",
    "civittui.download.aria2",
    "civittui.state",
    "civittui.prompts.filters",
    "civittui.prompts.tools",
    "civittui.sidecars",
]


def test_engine_side_imports_no_textual() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in ENGINE_MODULES)
        + "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith(('textual.', "
        "'civittui.tui')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_only_the_state_package_imports_tinydb() -> None:
    code = (
        "import sys\nimport civittui.engine.runner, civittui.cli\nprint('tinydb' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # the engine reaches tinydb only through civittui.state
    from pathlib import Path

    import civittui

    root = Path(civittui.__file__).parent
    users = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if "import tinydb" in p.read_text("utf-8") or "from tinydb" in p.read_text("utf-8")
    ]
    assert users and all(u.startswith("state/") for u in users), users
