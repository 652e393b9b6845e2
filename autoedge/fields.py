"""A check shared by the frozen records' `from_json`: no keys beyond the dataclass's fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from autoedge.errors import AutoEdgeError


def reject_unknown_fields(
    cls: type, data: Mapping[str, Any], what: str, error: type[AutoEdgeError] = AutoEdgeError
) -> None:
    """Raise `error("unknown <what>: a, b")` for keys of `data` that `cls` has no field for."""
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise error(f"unknown {what}: {', '.join(sorted(unknown))}")
