"""What a run folder's run.json says about how its points were made (no search code needed).

`autoedge export` rebuilds a point from these: its data, target, teacher, fidelity and the
space the run started with. search/ writes run.json; readers of a finished run use this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoedge.errors import RunError
from autoedge.results.run_folder import read_run_json
from autoedge.space import SearchSpace
from autoedge.space.loader import load_space_text


@dataclass(frozen=True)
class RunSettings:
    """The settings of a run that an exported point depends on (run.json's `config`)."""

    data: str
    target: str
    teacher: str
    fidelity: dict[str, Any]
    config: dict[str, Any]
    image_size: int | None = None  # an image folder's stored size (None: its native size)


def read_run_data(path: str | Path) -> dict[str, Any]:
    """A run folder's run.json, checked to hold the run's settings and its space."""
    folder = Path(path)
    if not (folder / "run.json").is_file():
        raise RunError(f"{folder} is not an autoedge run folder (no run.json)")
    data = read_run_json(folder / "run.json")
    if "space_yaml" not in data or not isinstance(data.get("config"), dict):
        raise RunError(f"{folder / 'run.json'} lacks the run's settings; the run folder is damaged")
    return data


def read_run_settings(path: str | Path) -> RunSettings:
    """The data, target, teacher and fidelity a run searched with (RunError if damaged)."""
    config = read_run_data(path)["config"]
    try:
        return RunSettings(
            data=str(config["data"]),
            target=str(config["target"]),
            teacher=str(config.get("teacher", "auto")),
            fidelity=dict(config["fidelity"]),
            config=config,
            image_size=int(config["image_size"]) if config.get("image_size") else None,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise RunError(f"{Path(path) / 'run.json'} holds no usable run settings: {e}") from e


def run_space(path: str | Path) -> SearchSpace:
    """The search space a run started with (stored in run.json, so later edits do not apply)."""
    data = read_run_data(path)
    return load_space_text(data["space_yaml"], f"{Path(path) / 'run.json'} (space)")
