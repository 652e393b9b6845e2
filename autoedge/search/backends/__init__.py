"""Search backends by name: `optuna` (default), `random`, and `ray` (the optuna study, its
trials run N at once on a Ray cluster), behind one ask/tell interface."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from autoedge.errors import SearchError
from autoedge.search.backends.base import Backend, Proposal, TrialHooks
from autoedge.search.config import RunConfig
from autoedge.space.candidate import Candidate
from autoedge.space.spec import SearchSpace

if TYPE_CHECKING:
    import optuna

BackendFactory = Callable[[Path, RunConfig, SearchSpace, Sequence[tuple[str, Candidate]]], Backend]


def _optuna(
    db: Path, config: RunConfig, space: SearchSpace, warm: Sequence[tuple[str, Candidate]]
) -> Backend:
    from autoedge.search.backends.optuna_backend import OptunaBackend, make_sampler

    def sampler(n: int) -> optuna.samplers.BaseSampler:
        return make_sampler(config, config.sampler, trials_so_far=n)

    return OptunaBackend(db, config, space, sampler=sampler, warm_start=warm)


def _random(
    db: Path, config: RunConfig, space: SearchSpace, warm: Sequence[tuple[str, Candidate]]
) -> Backend:
    """Uniform sampling of the same define-by-run space, stored the same way (the baseline)."""
    from autoedge.search.backends.optuna_backend import OptunaBackend, make_sampler

    def sampler(n: int) -> optuna.samplers.BaseSampler:
        return make_sampler(config, "random", trials_so_far=n)

    return OptunaBackend(db, config, space, sampler=sampler, warm_start=warm)


def _ray(
    db: Path, config: RunConfig, space: SearchSpace, warm: Sequence[tuple[str, Candidate]]
) -> Backend:
    """The optuna backend's study; the search loop hands its trials to Ray Tune."""
    require_ray()
    return _optuna(db, config, space, warm)


RAY_HINT = "pip install 'autoedge[ray]' (Ray Tune >= 2.40)"


def require_ray() -> None:
    """SearchError with the install hint unless Ray Tune can be imported (nothing is imported)."""
    try:
        found = importlib.util.find_spec("ray") is not None
        found = found and importlib.util.find_spec("ray.tune") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise SearchError(f"--backend ray needs Ray, which is not installed: {RAY_HINT}")


_REGISTRY: dict[str, BackendFactory] = {"optuna": _optuna, "random": _random, "ray": _ray}


def list_backends() -> list[str]:
    """Names of the registered backends."""
    return sorted(_REGISTRY)


def get_backend(name: str) -> BackendFactory:
    """A backend factory by name; an unknown name errors with the valid ones, and `ray`
    errors with the install hint when Ray is missing."""
    if name not in _REGISTRY:
        raise SearchError(f"unknown backend {name!r}; choose one of: {', '.join(list_backends())}")
    if name == "ray":
        require_ray()
    return _REGISTRY[name]


__all__ = [
    "RAY_HINT",
    "Backend",
    "BackendFactory",
    "Proposal",
    "TrialHooks",
    "get_backend",
    "list_backends",
    "require_ray",
]
