"""The house: stages import only downwards (import-linter's contract in pyproject.toml), no module imports
itself round a circle, the store factory is the one place a store is chosen, and modules stay readable."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import grimp
import pytest

from qa import storage
from qa.config import ROOT
from qa.errors import NotReady

QA = ROOT / "qa"
MAX_LINES = 400  # "about 400": a longer module says why in its docstring (a line starting "Longer than")


def test_stages_import_only_the_stages_below():
    done = subprocess.run([Path(sys.executable).with_name("lint-imports"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 kept, 0 broken" in done.stdout


def test_no_import_circle():
    """No module reaches itself through its imports, the imports inside functions included."""
    graph = grimp.build_graph("qa")
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while component[-1:] != [module]:
                component.append(stack.pop())
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert circles == []


def test_only_the_factory_names_a_store():
    """A store is chosen in qa/storage/__init__.py alone: no other module compares QA_STORE with a name."""
    naming = re.compile(r"""\.store\s*[!=]=\s*["']""")
    offenders = [str(p.relative_to(ROOT)) for p in QA.rglob("*.py") if naming.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_a_store_outside_qa_opens_by_import_path(config):
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        backend = storage.open(replace(config, store="memory_store:BACKEND"))
    finally:
        sys.path.remove(str(Path(__file__).parent))
    assert backend.name == "memory"
    for bad in ("nosuchstore", "memory_store:NOTHING", "no_such_module:BACKEND"):
        with pytest.raises(NotReady, match="QA_STORE"):
            storage.open(replace(config, store=bad))


def test_every_package_says_what_goes_in_and_out():
    for init in sorted(QA.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and re.search(r"\bIn:", doc) and re.search(r"\bOut:", doc), init


def test_modules_stay_readable():
    """At most about 400 lines, or the docstring says why it is longer; and that escape stays rare (two modules)."""
    longer = []
    for path in sorted(QA.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_LINES:
            doc = ast.get_docstring(ast.parse(text)) or ""
            assert "Longer than" in doc, f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines"
            longer.append(path.relative_to(ROOT).as_posix())
    assert len(longer) <= 2, f"longer than {MAX_LINES} lines: {longer}"
