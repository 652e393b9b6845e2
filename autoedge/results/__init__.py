"""autoedge.results: the Pareto front, hypervolume, point picking, plot, report and run folders.

Pure pandas/numpy/matplotlib; nothing here imports torch, optuna or the CLI.
"""

from __future__ import annotations

from autoedge.results.atomic import (
    jsonable,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from autoedge.results.columns import BASE_COLUMNS, METRIC_COLUMNS, OBJECTIVE_COLUMNS
from autoedge.results.hypervolume import accuracy_latency_hypervolume, hypervolume
from autoedge.results.pareto import non_dominated, pareto_front
from autoedge.results.pick import pick_point
from autoedge.results.plot import load_plotting, plot_front
from autoedge.results.report import render_report
from autoedge.results.run_folder import RUN_FORMAT, RunFolder, RunView, load_run, read_run_json

__all__ = [
    "BASE_COLUMNS",
    "METRIC_COLUMNS",
    "OBJECTIVE_COLUMNS",
    "RUN_FORMAT",
    "RunFolder",
    "RunView",
    "accuracy_latency_hypervolume",
    "hypervolume",
    "jsonable",
    "load_plotting",
    "load_run",
    "non_dominated",
    "pareto_front",
    "pick_point",
    "plot_front",
    "read_run_json",
    "render_report",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_json_atomic",
    "write_text_atomic",
]
