"""Crash-safe file writes: write a temp file beside the target, fsync, then os.replace."""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` atomically; on error the old file is left as it was."""
    _write_atomic(path, lambda f: f.write(data), binary=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Replace `path` with UTF-8 `text` atomically (newlines written as given)."""
    _write_atomic(path, lambda f: f.write(text), binary=False)


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Replace `path` with `data` as JSON (indent 2, sorted keys, trailing newline).

    numpy scalars/arrays and Paths are converted; NaN and infinities become null so the
    file stays strict JSON.
    """
    text = json.dumps(jsonable(data), indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_text_atomic(path, text)


def write_csv_atomic(path: str | Path, df: pd.DataFrame) -> None:
    """Replace `path` with `df` as CSV (no index) atomically."""
    _write_atomic(path, lambda f: df.to_csv(f, index=False), binary=False)


def _write_atomic(path: str | Path, write: Callable[[IO[Any]], object], *, binary: bool) -> None:
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never reuse a stray file; mode 0o666 lets the umask decide as for a plain open().
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if binary:
            f: IO[Any] = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding="utf-8", newline="")
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    try:
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def jsonable(value: Any) -> Any:
    """`value` with numpy/pandas scalars, Paths and non-finite floats made plain JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
