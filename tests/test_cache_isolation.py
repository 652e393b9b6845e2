"""The test suite leaves the user's cache alone: everything lands in the session's cache."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from autoedge_cli import autoedge

from autoedge.cache import cache_root
from autoedge.hardware.host_store import store_path
from autoedge.space import get_space, sample_candidates


def test_the_session_cache_is_not_the_users(session_cache: Path) -> None:
    assert cache_root() == session_cache
    assert Path.home() not in session_cache.parents


def test_an_evaluation_writes_its_latency_records_only_to_the_session_cache(
    session_cache: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    store = store_path(1)
    before = len(store.read_text().splitlines()) if store.is_file() else 0
    cand = sample_candidates(get_space("tiny"), 1, seed=1)[0]
    stages = tuple(dataclasses.replace(s, weight_bits=32, act_bits=32) for s in cand.stages)
    cand = dataclasses.replace(cand, stages=stages, kd_alpha=0.0, kd_temperature=None)
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
    assert not (home / ".cache" / "autoedge").exists()  # (onnxruntime keeps its own there)
    assert session_cache in store.parents
    assert len(store.read_text().splitlines()) == before + 1  # its host measurement, kept here
