"""Bundled search spaces (search_spaces/*.yaml, shipped as package data) by name or by path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from autoedge.errors import SpaceError
from autoedge.space.loader import load_space_file, load_space_text
from autoedge.space.resolution import resolve_resolution
from autoedge.space.spec import SearchSpace

DEFAULT_SPACE = "mobilenetv3"


def _bundle():
    return resources.files("autoedge.search_spaces")


def list_spaces() -> list[str]:
    """Names of the bundled spaces, sorted."""
    return sorted(
        p.name.removesuffix(".yaml") for p in _bundle().iterdir() if p.name.endswith(".yaml")
    )


def get_space(name_or_path: str, *, image_size: int | None = None) -> SearchSpace:
    """A bundled space by name (`tiny`), or a YAML file by path (`./my_space.yaml`).

    A resolution relative to the data is resolved for images of `image_size` pixels (None:
    images smaller than the space's base, as the 28x28 built-ins are); see
    `space.resolution`.
    """
    return resolve_resolution(_raw_space(name_or_path), image_size or 0)


def _raw_space(name_or_path: str) -> SearchSpace:
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
