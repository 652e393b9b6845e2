"""The import rules of docs/architecture.md, enforced: no lower layer imports a higher one,
torch stays in compress/ and evaluate/, ray in one file of search/, typer in cli/."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "autoedge"

#: What each sub-package may import of autoedge (root helpers such as errors.py: all of them).
ALLOWED: dict[str, set[str]] = {
    "space": set(),
    "data": set(),
    "compress": {"space"},
    "hardware": {"space"},
    "results": {"space"},
    "evaluate": {"compress", "data", "hardware", "space"},
    "search": {"evaluate", "results", "space"},
    "deploy": {"compress", "data", "evaluate", "hardware", "results", "space"},
    "cli": {"compress", "data", "deploy", "evaluate", "hardware", "results", "search", "space"},
}
TORCH = {"torch", "torchvision", "timm", "torch_pruning"}
#: Third-party imports only these packages may make.
ONLY_IN: dict[str, set[str]] = {
    **{m: {"compress", "evaluate"} for m in TORCH},
    "optuna": {"search"},
    "ray": {"search"},
    "typer": {"cli"},
}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def violations(root: Path) -> list[str]:
    """Every import under `root` (an autoedge package folder) that breaks the rules."""
    found = []
    ray_files = set()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if len(rel.parts) < 2:
            continue  # root helpers and __main__
        pkg = rel.parts[0]
        for name in _imports(path):
            top, _, rest = name.partition(".")
            if top == "autoedge":
                target = rest.partition(".")[0]
                if target and (root / target).is_dir() and target not in {pkg, *ALLOWED[pkg]}:
                    found.append(f"{rel}: imports autoedge.{target}")
            elif top in ONLY_IN and pkg not in ONLY_IN[top]:
                found.append(f"{rel}: imports {top}")
            if top == "ray":
                ray_files.add(str(rel))
    if len(ray_files) > 1:
        found.append(f"ray is imported by {sorted(ray_files)}; keep it in one backend file")
    return found


def test_the_package_follows_the_import_rules():
    assert violations(PACKAGE) == []


def test_a_forbidden_import_is_caught(tmp_path):
    copy = tmp_path / "autoedge"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "hardware" / "targets.py").open("a") as f:
        f.write("\nimport torch  # noqa\n")
    with (copy / "deploy" / "card.py").open("a") as f:
        f.write("\nfrom autoedge.search.run import plan_run  # noqa\n")
    with (copy / "space" / "axes.py").open("a") as f:
        f.write("\nfrom autoedge.compress import pipeline  # noqa\n")
    assert sorted(violations(copy)) == [
        "deploy/card.py: imports autoedge.search",
        "hardware/targets.py: imports torch",
        "space/axes.py: imports autoedge.compress",
    ]
