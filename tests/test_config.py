"""Settings: read from the environment, coerced to their types, checked once."""

from __future__ import annotations

import json
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
     {"QA_CHUNK_MIN_CHARS": "400"}, {"QA_PORT": "70000"}, {"QA_DENSE_WEIGHT": "-1"},
     {"QA_CONFIDENT_ABOVE": "-0.1"}, {"QA_ARTICLE_REFUSE_BELOW": "2"}],
)
def test_out_of_range_settings_are_refused(environ):
    with pytest.raises(ValueError, match="invalid settings"):
        Config.from_env(environ)


def test_non_numbers_are_refused():
    with pytest.raises(ValueError):
        Config.from_env({"QA_PORT": "eighty"})


def test_thresholds_are_the_fitted_ones_unless_set():
    from qa.answers.confidence import ARTICLE_FILE, CALIBRATION_FILE, ArticleModel, Calibration

    fitted, article = (json.loads(path.read_text(encoding="utf-8")) for path in (CALIBRATION_FILE, ARTICLE_FILE))
    unset = Config.from_env({"QA_REFUSE_BELOW": ""})  # no copy in the configuration
    assert (unset.refuse_below, unset.confident_above, unset.article_refuse_below) == (None, None, None)
    loaded = Calibration.load(confident_above=unset.confident_above, refuse_below=unset.refuse_below)
    assert (loaded.confident_above, loaded.refuse_below) == (fitted["confident_above"], fitted["refuse_below"])
    assert ArticleModel.load(refuse_below=unset.article_refuse_below).refuse_below == article["refuse_below"]
    config = Config.from_env({"QA_REFUSE_BELOW": "0.2", "QA_CONFIDENT_ABOVE": "0.9", "QA_ARTICLE_REFUSE_BELOW": "0.3"})
    loaded = Calibration.load(confident_above=config.confident_above, refuse_below=config.refuse_below)
    assert (loaded.confident_above, loaded.refuse_below) == (0.9, 0.2)
    assert ArticleModel.load(refuse_below=config.article_refuse_below).refuse_below == 0.3
