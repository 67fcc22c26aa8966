"""Settings: read from the environment, coerced to their types, checked once."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.config import Config


def test_environment_values_are_coerced():
    config = Config.from_env({"QA_PORT": "9000", "QA_DENSE_WEIGHT": "0.5", "QA_INDEX_DIR": "/srv/qa-index"})
    assert config.port == 9000 and config.dense_weight == 0.5 and config.index_dir == Path("/srv/qa-index")


def test_overrides_beat_the_environment():
    assert Config.from_env({"QA_PORT": "9000"}, port=9100).port == 9100


@pytest.mark.parametrize(
    "environ",
    [{"QA_PASSAGE_THREADS": "0"}, {"QA_CANDIDATES": "0"}, {"QA_REFUSE_BELOW": "1.5"},
     {"QA_CHUNK_MIN_CHARS": "400"}, {"QA_PORT": "70000"}, {"QA_DENSE_WEIGHT": "-1"}],
)
def test_out_of_range_settings_are_refused(environ):
    with pytest.raises(ValueError, match="invalid settings"):
        Config.from_env(environ)


def test_non_numbers_are_refused():
    with pytest.raises(ValueError):
        Config.from_env({"QA_PORT": "eighty"})
