"""The house rules on size (issue 26): small modules, a thin search command."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "autoedge"
MAX_MODULE_LINES = 400
MAX_SEARCH_CMD_LINES = 60


def test_every_module_is_at_most_400_lines() -> None:
    sizes = {p: len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    big = {str(p.relative_to(PACKAGE)): n for p, n in sizes.items() if n > MAX_MODULE_LINES}
    assert len(sizes) > 50 and not big, big


def test_the_search_command_parses_and_hands_over() -> None:
    tree = ast.parse((PACKAGE / "cli" / "run_commands.py").read_text())
    (cmd,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "search_cmd"]
    lines = cmd.end_lineno - cmd.lineno + 1
    assert 10 < lines <= MAX_SEARCH_CMD_LINES, lines
