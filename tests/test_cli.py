"""`python -m qa ask` prints the answer with its sources, from the same core as the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from qa.config import ROOT


def run_cli(config, *args):
    env = os.environ | {"QA_INDEX_DIR": str(config.index_dir), "QA_SEEDS_DIR": str(config.seeds_dir)}
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_ask_prints_answer_and_sources(config, service):
    result = run_cli(config, "ask", "莲湖街道清除了几处菜地？")
    assert result.returncode == 0, result.stderr
    assert "5处" in result.stdout
    assert "[1]" in result.stdout and ".txt" in result.stdout


def test_ask_json_matches_the_api_shape(config, service):
    result = run_cli(config, "ask", "--json", "--top-k", "3", "表彰大会由谁主持？")
    reply = json.loads(result.stdout)
    assert len(reply["passages"]) == 3
    assert reply == reply | {"question": "表彰大会由谁主持？"}


def test_bad_question_is_a_clear_error(config, service):
    result = run_cli(config, "ask", "   ")
    assert result.returncode == 2
    assert "question" in result.stderr
