"""The docs tell the truth about the code: every test they name exists, every page the README
lists is there, and the README links nothing that would break on a package index page."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test")}


def test_every_test_named_in_robustness_exists() -> None:
    text = (ROOT / "docs" / "robustness.md").read_text()
    named = 0
    for row in text.splitlines():
        current = None
        for file, name in re.findall(r"`(test_\w+\.py)?::(test_\w+)(?:\[[^\]]*\])?`", row):
            current = file or current
            assert current, f"a test named without its file: {row}"
            assert name in _tests_in(ROOT / "tests" / current), f"{current}::{name}"
            named += 1
        for file in re.findall(r"`(test_\w+\.py)`", row):
            assert (ROOT / "tests" / file).exists(), file
    assert named > 50


def test_the_readme_lists_pages_that_exist_and_links_nothing_relative() -> None:
    readme = (ROOT / "README.md").read_text()
    pages = re.findall(r"`(docs/[\w.-]+\.md)`", readme)
    assert pages and all((ROOT / page).exists() for page in pages), pages
    relative = [link for link in re.findall(r"\]\(([^)]+)\)", readme)
                if not link.startswith(("http://", "https://", "#"))]
    assert relative == []  # they would break on a package index page
    assert len(readme.encode()) <= 15_000
