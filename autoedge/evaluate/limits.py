"""Per-evaluation limits: wall time (`--trial-timeout`) and memory (`--trial-memory-mb`).

A candidate past either limit fails with the reason instead of stalling or sinking the run.
Time is checked after every training step and at every phase boundary (a single native call,
such as one ONNX Runtime session, is not interrupted). Memory is capped with RLIMIT_DATA at
the given headroom above what the process holds when the evaluation starts (Linux), so an
allocation past it fails inside the evaluation, where it is caught and recorded.
"""

from __future__ import annotations

import re
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from autoedge.errors import AutoEdgeError

_MB = 1 << 20


class TrialTimeout(AutoEdgeError):
    """The evaluation ran past its time limit (the candidate's failure, not a bug)."""


@dataclass(frozen=True)
class TrialLimits:
    """Limits of one evaluation; 0 means none."""

    time_s: float = 0.0
    memory_mb: float = 0.0

    def timeout_error(self, elapsed_s: float) -> TrialTimeout | None:
        """The error to raise after `elapsed_s` seconds, or None while within the limit."""
        if self.time_s > 0 and elapsed_s > self.time_s:
            return TrialTimeout(
                f"ran past the trial time limit of {self.time_s:g} s (--trial-timeout)"
            )
        return None

    @contextmanager
    def memory_cap(self) -> Iterator[None]:
        """Hold the process to `memory_mb` more heap while in the block (Linux)."""
        held = _data_bytes() if self.memory_mb > 0 else None
        if held is None:
            yield
            return
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        cap = held + int(self.memory_mb * _MB)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))

    def out_of_memory_reason(self, e: BaseException) -> str | None:
        """A reason naming the memory limit when `e` is an allocation failure under it."""
        if self.memory_mb <= 0 or not is_out_of_memory(e):
            return None
        return f"out of memory: needed more than the trial memory limit of {self.memory_mb:g} MB"


def is_out_of_memory(e: BaseException) -> bool:
    """Python's MemoryError, or torch's / ONNX Runtime's failed allocation."""
    text = str(e).lower()
    return isinstance(e, MemoryError) or "can't allocate memory" in text or "bad_alloc" in text


def _data_bytes() -> int | None:
    """This process's data segment (VmData, what RLIMIT_DATA counts); None off Linux."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmData:\s+(\d+)\s+kB", status)
    return int(found.group(1)) * 1024 if found else None


#: Input values per evaluation batch (32 MB as float): 256 images up to 104x104x3, 55 at 224.
EVAL_BATCH_VALUES = 2**23


def eval_batch(cap: int, resolution: int, channels: int) -> int:
    """Images per test batch: `cap`, fewer for large images (ONNX Runtime's arena grows with
    the batch: 12.5 GB peak RSS at 256 images of 224 px, results/bench_images.md at aa84348)."""
    return max(1, min(cap, EVAL_BATCH_VALUES // (channels * resolution * resolution)))
