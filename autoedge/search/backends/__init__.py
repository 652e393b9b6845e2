"""Search backends by name: `optuna` (default) and `random`, behind one ask/tell interface."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from autoedge.errors import SearchError
from autoedge.search.backends.base import Backend, Proposal
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


_REGISTRY: dict[str, BackendFactory] = {"optuna": _optuna, "random": _random}


def list_backends() -> list[str]:
    """Names of the registered backends."""
    return sorted(_REGISTRY)


def get_backend(name: str) -> BackendFactory:
    """A backend factory by name; an unknown name errors with the valid ones."""
    if name not in _REGISTRY:
        raise SearchError(f"unknown backend {name!r}; choose one of: {', '.join(list_backends())}")
    return _REGISTRY[name]


__all__ = ["Backend", "BackendFactory", "Proposal", "get_backend", "list_backends"]
