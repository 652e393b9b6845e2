"""The test suite leaves the user's cache alone: everything lands in the session's cache."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from autoedge_cli import autoedge

from autoedge.cache import cache_root
from autoedge.space import get_space, sample_candidates


def test_the_session_cache_is_not_the_users(session_cache: Path) -> None:
    assert cache_root() == session_cache
    assert Path.home() not in session_cache.parents


def test_an_evaluation_writes_its_teacher_and_latency_records_only_to_the_session_cache(
    session_cache: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    cand = sample_candidates(get_space("tiny"), 1, seed=1)[0]
    stages = tuple(dataclasses.replace(s, weight_bits=32, act_bits=32) for s in cand.stages)
    cand = dataclasses.replace(cand, stages=stages, kd_alpha=0.5, kd_temperature=4.0)
    res = autoedge(
        "evaluate",
        "--space",
        "tiny",
        "--data",
        "digits",
        "--epochs",
        "1",
        "--subset",
        "300",
        "--teacher",
        "auto",
        "--json",
        "--candidate",
        cand.dumps(),
        env={**os.environ, "HOME": str(home)},
    )
    assert res.returncode == 0, res.stderr
    assert not (home / ".cache").exists()
    assert any((session_cache / "teachers").iterdir())  # the digits teacher
    assert any((session_cache / "latency").rglob("*"))  # the host measurement kept
