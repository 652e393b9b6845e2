"""Planning a run: settle its config (new or resumed) and apply every check, once.

`plan_run` (the user's options) and `plan_config` (a ready RunConfig) both end in `_plan`,
the one place that checks the backend, the ray-only settings, the space narrowed to the
target's bit-widths (or the stored one) and the teacher, before anything is written.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoedge.atomic_files import TEMP_PATTERN
from autoedge.devices import wants_gpu
from autoedge.errors import AutoEdgeError, RunError, SearchError
from autoedge.evaluate.devices import require_device
from autoedge.evaluate.teacher import check_teacher_spec
from autoedge.results import RunFolder
from autoedge.results.run_settings import read_run_data, run_space
from autoedge.search.backends import get_backend
from autoedge.search.config import RAY_SETTINGS, RunConfig, default_out
from autoedge.space.registry import get_space
from autoedge.space.restrict import restrict_bits
from autoedge.space.spec import SearchSpace

#: The bit-widths a run's target executes, or a function of the settled config giving them
#: (asked once, before the space is narrowed: the CLI resolves the run's target there).
ExecutableBits = Iterable[int] | Callable[[RunConfig], Iterable[int]]
#: The image size of a run's data, or a function of the settled config giving it (asked only
#: for a new run, whose space's relative resolution follows it; the CLI loads the data there).
DataSize = int | Callable[[RunConfig], int]


@dataclass(frozen=True)
class RunPlan:
    """A checked run: its settings, whether it continues a stored run, the space it searches
    (the stored one, or a new run's narrowed to its target's bit-widths) and the bit-widths
    that narrowing dropped."""

    config: RunConfig
    resumed: bool
    space: SearchSpace
    dropped_bits: tuple[int, ...] = ()

    def __iter__(self) -> Iterator[Any]:
        """Unpacks as (config, resumed), what plan_run returned before it returned a plan."""
        return iter((self.config, self.resumed))


def plan_run(
    options: dict[str, Any],
    *,
    out: str | None = None,
    resume: str | None = None,
    executable_bits: ExecutableBits | None = None,
    data_size: DataSize | None = None,
) -> RunPlan:
    """The checked plan of the run the user's `options` describe.

    `options` holds only the settings the user gave. A new run fills the rest with defaults;
    `--resume RUN` (or an `--out` that already holds a run) continues the stored run, where
    only budget and refine may change and any other differing option is an error. A ray-only
    setting given to another backend is an error; `executable_bits` narrows a new run's
    bit-width choices (the dropped ones are in the plan); `data_size` resolves a new run's
    resolution relative to the data (None: as for small images, see `space.resolution`).
    """
    config, resumed = _settle(options, out, resume)
    given = [k for k, v in options.items() if v is not None]
    return _plan(
        config,
        resumed=resumed,
        given=given,
        executable_bits=executable_bits,
        data_size=data_size,
    )


def plan_config(
    config: RunConfig,
    *,
    executable_bits: ExecutableBits | None = None,
    data_size: DataSize | None = None,
) -> RunPlan:
    """The checked plan of a ready `config` (a new run, or the one stored in `config.out`).

    Its ray-only settings count as given when they differ from the defaults.
    """
    resumed = RunFolder(Path(config.out)).config.is_file()
    given = [k for k in RAY_SETTINGS if getattr(config, k) != getattr(RunConfig, k)]
    return _plan(
        config,
        resumed=resumed,
        given=given,
        executable_bits=executable_bits,
        data_size=data_size,
    )


def _plan(
    config: RunConfig,
    *,
    resumed: bool,
    given: Iterable[str],
    executable_bits: ExecutableBits | None,
    data_size: DataSize | None = None,
) -> RunPlan:
    """Every check a run needs before anything is written, in the order the user sees them."""
    get_backend(config.backend)
    ray_given = [k for k in RAY_SETTINGS if k in set(given)]
    if ray_given and config.backend != "ray":
        raise SearchError(
            f"--{ray_given[0].replace('_', '-')} is a setting of --backend ray; this run uses "
            f"--backend {config.backend}"
        )
    _check_device(config)
    bits = executable_bits(config) if callable(executable_bits) else executable_bits
    dropped: list[int] = []
    if resumed:
        space = run_space(config.out)
    else:
        size = data_size(config) if callable(data_size) else data_size
        space = get_space(config.space, image_size=size)
        if bits is not None:
            space, dropped = restrict_bits(space, bits, target=config.target)
    check_teacher_spec(config.teacher)
    return RunPlan(config, resumed, space, tuple(dropped))


def _check_device(config: RunConfig) -> None:
    """A GPU asked for must be there: on this machine for local workers; for Ray, reserved
    per trial (Ray gives a trial only the GPUs it reserves, and checks them on the cluster)."""
    if not wants_gpu(config.device):
        return
    if config.backend != "ray":
        require_device(config.device)
    elif ":" in config.device:
        raise SearchError(
            f"--device {config.device} names a GPU of this machine; with --backend ray use "
            "--device cuda (Ray assigns each trial its GPUs)"
        )
    elif config.gpus_per_trial <= 0:
        raise SearchError(
            f"--device {config.device} with --backend ray needs --gpus-per-trial > 0 "
            "(Ray gives a trial only the GPUs it reserves for it)"
        )


def _settle(options: dict[str, Any], out: str | None, resume: str | None) -> tuple[RunConfig, bool]:
    """The config to run and whether it continues a stored run."""
    if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():
        raise SearchError("give either --resume RUN or --out DIR (the same folder), not both")
    folder = resume or out
    if folder is not None and (Path(folder) / "run.json").is_file():
        stored = read_run_config(Path(folder))
        check_study_db(RunFolder(Path(folder)).db)
        return stored.resumed_with({**options, "out": str(folder)}), True
    if resume is not None:
        raise RunError(
            f"--resume {resume}: not an autoedge run folder (no run.json); give the folder "
            "`autoedge search --out` wrote"
        )
    if folder is not None and Path(folder).exists():
        path = Path(folder)
        if not path.is_dir():
            raise RunError(f"--out {folder} is a file; give a folder for the run")
        if any(not _start_leftover(p) for p in path.iterdir()):
            raise RunError(
                f"--out {folder} is not empty and holds no autoedge run; give a new or empty folder"
            )
    out_folder = folder or default_out(options.get("target", "host"))
    return RunConfig.from_options(out_folder, options), False


def _start_leftover(path: Path) -> bool:
    """Whether `path` is what a run killed before it wrote run.json leaves: its lock file, or
    the temp file of a write it cut short (the same command then starts the run afresh)."""
    return path == RunFolder(path.parent).lockfile or path.match(TEMP_PATTERN)


def read_run_config(path: str | Path) -> RunConfig:
    """The RunConfig stored in a run folder's run.json (RunError if it is not one)."""
    data = read_run_data(Path(path))
    try:
        return RunConfig.from_json(data["config"])
    except (AutoEdgeError, KeyError, TypeError) as e:
        raise RunError(f"{Path(path) / 'run.json'} holds no usable run settings: {e}") from e


def check_study_db(db: Path) -> None:
    """RunError unless `db` is absent or schema-less (a run killed before its study was
    created: Optuna creates it on resume) or a readable Optuna SQLite study; read-only, so a
    damaged file is left as it is for the user."""
    if not db.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            tables = {
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "studies" not in tables:
                return
            con.execute("SELECT COUNT(*) FROM studies").fetchone()
            con.execute("SELECT COUNT(*) FROM trials").fetchone()
    except sqlite3.Error as e:
        raise RunError(
            f"{db} is not a readable study database ({e}); restore it from a backup, or start "
            "a new run with another --out (run.json and trials.csv here are left as they are)"
        ) from e
