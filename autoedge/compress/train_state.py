"""A compressed network's training state on disk, so a later rung carries its training on.

The multi-fidelity search (search/asha.py) stops a candidate after each rung; a promoted one
continues from what it had: the fake-quantized network (pruned, factorized, with its
quantizers), AdamW's moments and the optimiser step count. The file is a torch pickle written
by autoedge into the run folder (never a file from elsewhere: loading one runs its pickled
code), replaced atomically, so a kill leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from autoedge.atomic_files import write_with
from autoedge.compress.pipeline import CompressedModel
from autoedge.errors import CompressionError

#: Bumped when the file's layout changes; an older file is refused with the reason.
STATE_FORMAT = 1


@dataclass(frozen=True)
class TrainState:
    """Where a candidate's training stopped: after rung `rung`, `steps` optimiser steps."""

    key: str
    rung: int
    steps: int
    compressed: CompressedModel
    optimizer: dict[str, Any] | None


def save_state(path: str | Path, state: TrainState) -> None:
    """Write `state` to `path` atomically (temp file beside it, fsync, rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": STATE_FORMAT,
        "key": state.key,
        "rung": state.rung,
        "steps": state.steps,
        "compressed": state.compressed,
        "optimizer": state.optimizer,
    }
    write_with(target, lambda f: torch.save(payload, f), binary=True)


def load_state(path: str | Path, key: str) -> TrainState:
    """The state saved at `path` for the candidate `key` (CompressionError if it is missing,
    unreadable, of another format or of another candidate)."""
    source = Path(path)
    try:
        # autoedge's own file (see the module docstring): the network is pickled whole.
        payload = torch.load(source, map_location="cpu", weights_only=False)
    except FileNotFoundError as e:
        raise CompressionError(f"no saved training state at {source}") from e
    except Exception as e:
        raise CompressionError(f"the training state {source} is unreadable: {e}") from e
    if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
        raise CompressionError(f"{source} is not a training state of format {STATE_FORMAT}")
    if payload.get("key") != key:
        raise CompressionError(
            f"{source} holds candidate {payload.get('key')!r}, not {key!r}; the run folder's "
            "states/ was changed by hand"
        )
    return TrainState(
        key=key,
        rung=int(payload["rung"]),
        steps=int(payload["steps"]),
        compressed=payload["compressed"],
        optimizer=payload["optimizer"],
    )
