"""Evaluation: a candidate in, an EvalResult out (training, teacher cache, measurement)."""

from __future__ import annotations

from autoedge.evaluate.fidelity import DEFAULT_FIDELITY, FULL_FIDELITY, Fidelity
from autoedge.evaluate.result import EvalResult
from autoedge.evaluate.teacher import Teacher, TeacherRecipe, prepare_teacher


def __getattr__(name: str) -> object:
    """`evaluate` is imported on first use: it pulls in torch, which the search layer avoids."""
    if name == "evaluate":
        from autoedge.evaluate.evaluator import evaluate

        return evaluate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_FIDELITY",
    "FULL_FIDELITY",
    "EvalResult",
    "Fidelity",
    "Teacher",
    "TeacherRecipe",
    "evaluate",
    "prepare_teacher",
]
