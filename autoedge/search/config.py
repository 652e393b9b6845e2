"""RunConfig: everything that defines a search run, stored in run.json and checked on resume."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from autoedge.devices import parse_device
from autoedge.errors import SearchError
from autoedge.evaluate.fidelity import Fidelity
from autoedge.evaluate.limits import TrialLimits
from autoedge.fields import reject_unknown_fields
from autoedge.search.asha import DEFAULT_ETA, DEFAULT_RUNGS, RungSchedule, default_fidelity
from autoedge.search.objectives import DEFAULT_OBJECTIVES, Constraints, parse_objectives
from autoedge.space.registry import DEFAULT_SPACE

SAMPLERS = ("tpe", "nsga2")
#: Settings a resumed run may change; every other one is fixed when the run starts.
#: (Where trials run - the Ray cluster, its placement, the device - may change between sessions.)
ADJUSTABLE = (
    "out",
    "budget",
    "refine",
    "trial_timeout_s",
    "trial_memory_mb",
    "address",
    "workers",
    "cpus_per_trial",
    "gpus_per_trial",
    "validate_on",
    "device",
)
#: Settings that only the ray backend reads.
RAY_SETTINGS = ("address", "cpus_per_trial", "gpus_per_trial")


@dataclass(frozen=True)
class RunConfig:
    """One search: what to search, on what data, for which target, how hard, and where to.

    `budget` counts trials that produced a result (ok, failed or reused); trials interrupted
    by a stop are re-run and not counted. `refine` re-evaluates that many front points at
    full fidelity after the budget is spent. `trial_timeout_s` and `trial_memory_mb` > 0
    fail any evaluation (refinements included) that runs longer or allocates more; 0: no limit.
    `validate_on` measures each new front point of a predicted target on that device agent
    and refits the target's model online (hardware/validation.py). `rungs` and `eta` set the
    multi-fidelity schedule (search/asha.py): `budget` counts candidates, and the top 1/eta
    of each rung carries its training on at the next. `fidelity` is rung 0's; left out, it is
    `default_fidelity(rungs)` (cheaper for several rungs than for one).
    """

    out: str
    space: str = DEFAULT_SPACE
    data: str = "fashion-mnist"
    image_size: int | None = None  # an image folder's stored size; None: its native size
    target: str = "host"
    budget: int = 200
    backend: str = "optuna"
    sampler: str = "tpe"
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES
    constraints: Constraints = field(default_factory=Constraints)
    fidelity: Fidelity = None  # type: ignore[assignment]  # None: default_fidelity(rungs)
    teacher: str = "auto"
    seed: int = 0
    refine: int = 0
    warm_start: bool = True
    trial_timeout_s: float = 0.0
    trial_memory_mb: float = 0.0
    address: str | None = None  # ray: None starts a local Ray for the run; else join it
    workers: int = 1  # trials at once (ray: on the cluster; else worker processes here)
    cpus_per_trial: float = 1.0  # ray: CPUs Ray reserves per trial (and torch threads)
    gpus_per_trial: float = 0.0
    validate_on: str | None = None  # agent:HOST:PORT measuring the front of a predicted target
    rungs: int = DEFAULT_RUNGS  # multi-fidelity: 1 = one fidelity for every candidate
    eta: int = DEFAULT_ETA  # the top 1/eta of a rung is promoted to the next
    device: str = "auto"  # where candidates train: auto, cpu, cuda, cuda:N (not latency)

    def __post_init__(self) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1:
            raise SearchError(f"--budget must be an integer >= 1, got {self.budget!r}")
        if isinstance(self.refine, bool) or not isinstance(self.refine, int) or self.refine < 0:
            raise SearchError(f"--refine must be an integer >= 0, got {self.refine!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SearchError(f"--seed must be an integer, got {self.seed!r}")
        if self.sampler not in SAMPLERS:
            raise SearchError(
                f"unknown sampler {self.sampler!r}; choose one of: {', '.join(SAMPLERS)}"
            )
        for name, value in (("timeout", self.trial_timeout_s), ("memory-mb", self.trial_memory_mb)):
            if not _number(value) or value < 0:
                raise SearchError(
                    f"--trial-{name} must be a number >= 0 (0: no limit), got {value!r}"
                )
        object.__setattr__(self, "objectives", parse_objectives(self.objectives))
        object.__setattr__(self, "device", parse_device(self.device))
        RungSchedule(self.rungs, self.eta)  # checks both
        if self.fidelity is None:
            object.__setattr__(self, "fidelity", default_fidelity(self.rungs))
        _check_ray_settings(self)
        if self.validate_on is not None:
            if not (isinstance(self.validate_on, str) and self.validate_on.startswith("agent:")):
                raise SearchError(
                    f"--validate-on takes a device agent, agent:HOST:PORT; got {self.validate_on!r}"
                )
            if self.backend == "ray":
                raise SearchError(
                    "--validate-on runs with --backend optuna or random (it measures each new "
                    "front point from the run folder as its trial ends); not with ray"
                )

    @property
    def schedule(self) -> RungSchedule:
        """The multi-fidelity schedule: rung 0 is `fidelity` (search/asha.py)."""
        return RungSchedule(self.rungs, self.eta)

    @property
    def limits(self) -> TrialLimits:
        """The per-evaluation limits (time, memory) of this run."""
        return TrialLimits(time_s=self.trial_timeout_s, memory_mb=self.trial_memory_mb)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["objectives"] = list(self.objectives)
        data["constraints"] = self.constraints.to_json()
        data["fidelity"] = self.fidelity.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        reject_unknown_fields(cls, data, "run settings", SearchError)
        data = dict(data)
        data.setdefault("rungs", 1)  # runs written before multi-fidelity had one rung
        data["objectives"] = tuple(data.get("objectives", DEFAULT_OBJECTIVES))
        data["constraints"] = Constraints.from_json(data.get("constraints") or {})
        data["fidelity"] = Fidelity.from_json(data.get("fidelity") or {})
        return cls(**data)

    @classmethod
    def from_options(cls, out: str, options: dict[str, Any]) -> RunConfig:
        """A new run from the user's options (`constraints`/`fidelity` as partial dicts).

        Without `workers`, a local run (optuna, random) evaluates one trial per CPU core at
        once (pool.py); a ray run one.
        """
        local = options.get("backend", cls.backend) != "ray"
        if "workers" not in options and local:
            from autoedge.search.pool import default_workers

            options = {**options, "workers": default_workers()}
        base = cls(out=out, rungs=options.get("rungs", DEFAULT_RUNGS))
        return cls.from_json(_merge(base.to_json(), {**options, "out": out}))

    def resumed_with(self, options: dict[str, Any]) -> RunConfig:
        """This stored config with the user's explicit options applied.

        Only `ADJUSTABLE` settings may change; another option that differs from the stored
        run raises SearchError naming it (a resumed run keeps the settings it started with).
        """
        new = RunConfig.from_json(_merge(self.to_json(), options))
        for name in options:
            if name in ADJUSTABLE:
                continue
            if getattr(new, name) != getattr(self, name):
                raise SearchError(
                    f"--{name.replace('_', '-')} {_show(getattr(new, name))} differs from the "
                    f"run's {_show(getattr(self, name))}; a resumed run keeps its settings "
                    "(start a new --out to change them)"
                )
        return replace(self, **{k: getattr(new, k) for k in ADJUSTABLE})


def _check_ray_settings(c: RunConfig) -> None:
    if isinstance(c.workers, bool) or not isinstance(c.workers, int) or c.workers < 1:
        raise SearchError(f"--workers must be an integer >= 1, got {c.workers!r}")
    if not _number(c.cpus_per_trial) or c.cpus_per_trial <= 0:
        raise SearchError(f"--cpus-per-trial must be a number > 0, got {c.cpus_per_trial!r}")
    if not _number(c.gpus_per_trial) or c.gpus_per_trial < 0:
        raise SearchError(f"--gpus-per-trial must be a number >= 0, got {c.gpus_per_trial!r}")
    if c.address is not None and not (isinstance(c.address, str) and c.address.strip()):
        raise SearchError(f"--address must be 'auto' or ray://HOST:PORT, got {c.address!r}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def default_out(target: str, now: datetime | None = None) -> str:
    """results/runs/<timestamp>-<target>, with the target made safe for a folder name."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", target).strip("_") or "target"
    return str(Path("results") / "runs" / f"{stamp}-{safe}")


def _merge(base: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """`base` JSON with `options` applied; nested settings merge field by field."""
    out = dict(base)
    for name, value in options.items():
        if name in ("constraints", "fidelity") and isinstance(value, dict):
            out[name] = {**base.get(name, {}), **value}
        elif isinstance(value, Constraints | Fidelity):
            out[name] = value.to_json()
        else:
            out[name] = value
    return out


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, Constraints):
        return f"({value.describe()})"
    if isinstance(value, Fidelity):
        return f"(epochs {value.epochs}, subset {value.subset})"
    return str(value)
