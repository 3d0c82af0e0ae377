"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakecivitai import FakeCivitai


@pytest.fixture
def fake_civitai() -> Iterator[FakeCivitai]:
    """A started fake CivitAI (API + file store + image CDN), stopped after the test."""
    with FakeCivitai() as fake:
        yield fake
