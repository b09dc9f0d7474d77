"""The ``rehearsal:`` config section: defaults, values, and bad values named (exit 2)."""

from __future__ import annotations

import pytest

from pgwarden.config import Settings, parse_settings
from pgwarden.errors import ConfigError


def test_defaults() -> None:
    rehearsal = Settings().rehearsal
    assert rehearsal.max_age == 26 * 3600.0
    assert rehearsal.database_url_env is None
    assert rehearsal.max_lock == 2.0
    assert rehearsal.sample_interval == 0.01


def test_values_are_read() -> None:
    settings = parse_settings(
        "rehearsal:\n  max_age: 2h\n  database_url_env: STAGING_URL\n  max_lock: 500ms\n  sample_interval: 5ms\n",
        "pgwarden.yml")
    assert (settings.rehearsal.max_age, settings.rehearsal.database_url_env) == (7200.0, "STAGING_URL")
    assert (settings.rehearsal.max_lock, settings.rehearsal.sample_interval) == (0.5, 0.005)


@pytest.mark.parametrize(("text", "named"), [
    ("rehearsal:\n  max_lock: soon\n", "rehearsal.max_lock"),
    ("rehearsal:\n  sample_interval: 0\n", "rehearsal.sample_interval"),
    ("rehearsal:\n  sample_interval: 1min\n", "rehearsal.sample_interval"),
    ("rehearsal:\n  database_url_env: [A]\n", "rehearsal.database_url_env"),
    ("rehearsal:\n  max_lok: 1s\n", "max_lok"),
])
def test_bad_values_name_the_key(text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_settings(text, "pgwarden.yml")
