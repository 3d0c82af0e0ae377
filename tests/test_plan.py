"""engine/plan.py: names civittui gives, without a network."""

from __future__ import annotations

from pathlib import Path

import pytest

from civittui.config import Config
from civittui.engine.plan import Planner, is_own_name
from civittui.layout import Layout
from civittui.store import Store


@pytest.mark.parametrize(
    ("name", "own"),
    [
        ("123.jpeg", True),
        ("123.TXT", True),
        ("123.mp4", True),
        ("model_meta_v9.json", True),
        ("lora.safetensors.part", True),
        ("lora.safetensors.part.ranges", True),
        ("lora.safetensors", False),
        ("123.safetensors", False),
        ("123 (4).jpeg", False),
    ],
)
def test_own_name_shapes(name: str, own: bool) -> None:
    assert is_own_name(name) is own


def test_primary_first_whatever_the_order_and_lora_cards_claimed(tmp_path: Path) -> None:
    config = Config(root=tmp_path / "root", lora_dir=tmp_path / "Lora")
    with Store.open(config.state_path) as store:
        plan = Planner(config, store, Layout(config.root, config.lora_dir))
        files = [
            {"id": 7, "name": "a.safetensors"},
            {"id": 5, "name": "a.safetensors", "primary": True},
            {"id": 6, "name": "a.json"},
            {"id": 8, "name": "A.preview.png"},
        ]
        names = plan.file_names("/m", "/lora/m", files)
        assert names[5] == ("a.safetensors", "/lora/m")
        assert names[7] == ("a (7).safetensors", "/lora/m")
        # A `.json` file is its own card and `*.preview.*` is a preview name: kept in the
        # model folder, never placed beside the cards.
        assert names[6] == ("a.json", None)
        assert names[8] == ("A.preview.png", None)
        assert plan.file_names("/m", "/lora/m", list(reversed(files))) == names


def test_a_scratch_shaped_name_still_gets_a_name(tmp_path: Path) -> None:
    config = Config(root=tmp_path / "root")
    with Store.open(config.state_path) as store:
        plan = Planner(config, store, Layout(config.root, None))
        names = plan.file_names("/m", None, [{"id": 9, "name": "x.safetensors.part"}])
        assert names == {9: ("file-9", None)}
        other = plan.file_names("/n", None, [{"id": 10, "name": "file-11"}, {"id": 11}])
        assert other[10][0] == "file-11" and other[11][0] != "file-11"
