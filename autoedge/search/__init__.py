"""Search: backends (optuna, random), objectives and constraints, the resumable loop."""

from __future__ import annotations

from autoedge.results.run_settings import run_space
from autoedge.search.backends import get_backend, list_backends
from autoedge.search.config import RunConfig, default_out
from autoedge.search.objectives import Constraints, parse_objectives
from autoedge.search.outputs import SearchSummary
from autoedge.search.planning import RunPlan, plan_run, read_run_config
from autoedge.search.records import TrialRecord
from autoedge.search.run import SearchEvent, run_search

__all__ = [
    "Constraints",
    "RunConfig",
    "RunPlan",
    "SearchEvent",
    "SearchSummary",
    "TrialRecord",
    "default_out",
    "get_backend",
    "list_backends",
    "parse_objectives",
    "plan_run",
    "read_run_config",
    "run_search",
    "run_space",
]
