"""TrialLimits: the time limit's error, the memory cap (in a child process) and its reason."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap

import pytest

from autoedge.evaluate.limits import TrialLimits, TrialTimeout, _data_bytes, is_out_of_memory

MB = 1 << 20


def test_no_time_limit_never_times_out() -> None:
    assert TrialLimits().timeout_error(1e9) is None
    assert TrialLimits(time_s=0).timeout_error(0.0) is None


def test_timeout_error_only_past_the_limit() -> None:
    limits = TrialLimits(time_s=2.5)
    assert limits.timeout_error(0.0) is None
    assert limits.timeout_error(2.4) is None
    assert limits.timeout_error(2.5) is None  # at the limit is still within it
    err = limits.timeout_error(2.6)
    assert isinstance(err, TrialTimeout) and isinstance(err, Exception)
    assert str(err) == "ran past the trial time limit of 2.5 s (--trial-timeout)"
    with pytest.raises(TrialTimeout, match="--trial-timeout"):
        raise limits.timeout_error(100.0)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("error", "oom"),
    [
        (MemoryError(), True),
        (
            RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB"),
            True,
        ),
        (RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : std::bad_alloc"), True),
        (RuntimeError("CAN'T ALLOCATE MEMORY"), True),
        (RuntimeError("loss is NaN"), False),
        (ValueError("bad shape"), False),
        (OSError(28, "No space left on device"), False),
    ],
)
def test_what_counts_as_out_of_memory(error: BaseException, oom: bool) -> None:
    assert is_out_of_memory(error) is oom
    reason = TrialLimits(memory_mb=256).out_of_memory_reason(error)
    if oom:
        assert reason == "out of memory: needed more than the trial memory limit of 256 MB"
    else:
        assert reason is None


def test_without_a_memory_limit_no_error_is_blamed_on_it() -> None:
    assert TrialLimits().out_of_memory_reason(MemoryError()) is None
    assert TrialLimits(time_s=5).out_of_memory_reason(MemoryError()) is None


def test_no_memory_limit_leaves_rlimit_data_alone() -> None:
    before = resource.getrlimit(resource.RLIMIT_DATA)
    with TrialLimits().memory_cap():
        assert resource.getrlimit(resource.RLIMIT_DATA) == before
    assert resource.getrlimit(resource.RLIMIT_DATA) == before


# The cap is set on the process itself, so the checks that set it run in a child process.
_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from autoedge.evaluate.limits import TrialLimits, _data_bytes

    MB = 1 << 20
    out = {"before": list(resource.getrlimit(resource.RLIMIT_DATA))}
    limits = TrialLimits(memory_mb=64)
    with limits.memory_cap():
        held = _data_bytes()
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        out["inside"] = [soft, hard]
        out["headroom_mb"] = (soft - held) / MB
        try:
            block = bytearray(512 * MB)
            out["big"] = "allocated"
            del block
        except MemoryError as e:
            out["big"] = "MemoryError"
            out["reason"] = limits.out_of_memory_reason(e)
        small = bytearray(4 * MB)  # well inside the headroom
        out["small"] = len(small)
        del small
    out["after"] = list(resource.getrlimit(resource.RLIMIT_DATA))
    block = bytearray(512 * MB)  # the cap is gone again
    out["big_after"] = len(block)
    del block

    try:  # an error inside the block restores the limit too
        with limits.memory_cap():
            raise KeyError("boom")
    except KeyError:
        pass
    out["after_error"] = list(resource.getrlimit(resource.RLIMIT_DATA))

    # a hard limit below the asked headroom: the cap is the hard limit
    hard = _data_bytes() + 1024 * MB
    resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))
    with TrialLimits(memory_mb=100_000).memory_cap():
        out["under_hard"] = list(resource.getrlimit(resource.RLIMIT_DATA))
    out["hard"] = hard
    out["after_hard"] = list(resource.getrlimit(resource.RLIMIT_DATA))
    json.dump(out, sys.stdout)
    """
)


@pytest.mark.skipif(_data_bytes() is None, reason="needs /proc/self/status (Linux)")
def test_memory_cap_holds_allocations_to_the_headroom_and_is_lifted_after() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    before = out["before"]
    assert out["inside"][1] == before[1]  # the hard limit is never touched
    assert 60 <= out["headroom_mb"] <= 64  # 64 MB above what the process held on entry
    assert out["big"] == "MemoryError"
    assert out["reason"] == "out of memory: needed more than the trial memory limit of 64 MB"
    assert out["small"] == 4 * MB
    assert out["after"] == before and out["after_error"] == before
    assert out["big_after"] == 512 * MB
    assert out["under_hard"] == [out["hard"], out["hard"]]
    assert out["after_hard"] == [out["hard"], out["hard"]]


def test_test_batches_shrink_for_large_images():
    from autoedge.evaluate.limits import eval_batch

    assert eval_batch(256, 32, 1) == 256  # the built-ins: as before
    assert eval_batch(256, 104, 3) == 256
    assert eval_batch(256, 224, 3) == 55
    assert eval_batch(256, 2048, 3) == 1
