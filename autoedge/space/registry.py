"""Bundled search spaces (search_spaces/*.yaml, shipped as package data) by name or by path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from autoedge.errors import SpaceError
from autoedge.space.loader import load_space_file, load_space_text
from autoedge.space.spec import SearchSpace

DEFAULT_SPACE = "mobilenetv3"


def _bundle():
    return resources.files("autoedge.search_spaces")


def list_spaces() -> list[str]:
    """Names of the bundled spaces, sorted."""
    return sorted(
        p.name.removesuffix(".yaml") for p in _bundle().iterdir() if p.name.endswith(".yaml")
    )


def get_space(name_or_path: str) -> SearchSpace:
    """A bundled space by name (`tiny`), or a YAML file by path (`./my_space.yaml`)."""
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        return load_space_file(Path(name_or_path))
    names = list_spaces()
    if name_or_path not in names:
        raise SpaceError(
            f"unknown space {name_or_path!r}; bundled spaces: {', '.join(names)} "
            "(or give a path to a .yaml file)"
        )
    res = _bundle() / f"{name_or_path}.yaml"
    return load_space_text(res.read_text(encoding="utf-8"), f"{name_or_path}.yaml (bundled)")
