"""The README documents every setting, and CI runs the very test command README gives."""

from __future__ import annotations

import re

from qa.config import ROOT, settings

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_documents_every_setting():
    missing = [env for _, env, _, _ in settings() if f"`{env}`" not in README]
    assert missing == []


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"^    (.*python3 -m venv .*)$", README, flags=re.M)  # the test one installs chromium first
    assert len(commands) == 2, "README gives exactly two set-up commands"
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text()
    assert any("server.py" in c for c in commands)
