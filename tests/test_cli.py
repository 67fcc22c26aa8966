"""`python -m qa ask` prints the answer with its sources, from the same core as the API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace

from qa.config import ROOT
from qa.indexing.manifest import FORMAT_VERSION


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


def test_index_of_another_format_is_a_clear_error(config, service, tmp_path):
    copy = replace(config, index_dir=tmp_path / "index")
    shutil.copytree(config.index_dir, copy.index_dir)
    manifest = json.loads((copy.index_dir / "manifest.json").read_text())
    (copy.index_dir / "manifest.json").write_text(json.dumps(manifest | {"format_version": FORMAT_VERSION + 1}))
    result = run_cli(copy, "ask", "表彰大会由谁主持？")
    assert result.returncode == 2
    assert "another format" in result.stderr and "Traceback" not in result.stderr


def test_lone_surrogate_in_the_question_is_a_clear_error(config, service):
    result = run_cli(config, "ask", "谁\udcff主持")  # how Python passes on a byte that is not UTF-8 in argv
    assert result.returncode == 2
    assert "Unicode" in result.stderr
