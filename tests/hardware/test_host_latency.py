"""Host latency measured for real in ONNX Runtime on exported timm models."""

from __future__ import annotations

import pytest

from autoedge.compress.build import build_model, example_input
from autoedge.compress.export import export_onnx
from autoedge.errors import AutoEdgeError
from autoedge.hardware.host_latency import measure_host_latency, time_interleaved
from autoedge.space import get_space, sample_candidates


@pytest.fixture(scope="module")
def small_and_big(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lat")
    cands = sample_candidates(get_space("mobilenetv3"), 20, seed=0)
    # the cheapest and the most expensive of 20 draws, by resolution x head width
    cands.sort(key=lambda c: c.resolution**2 * sum(s.width * s.depth for s in c.stages))
    paths = []
    for name, cand in (("small", cands[0]), ("big", cands[-1])):
        model = build_model(cand, in_chans=1, num_classes=10)
        paths.append(export_onnx(model, example_input(cand, 1), tmp / f"{name}.onnx"))
    return paths


def test_measurement_is_sane(small_and_big):
    small, _ = small_and_big
    m = measure_host_latency(small, runs=10, warmup=2)
    assert 0 < m.min_ms <= m.median_ms <= m.p90_ms
    assert m.runs == 10 and m.threads == 1 and m.source == "measured"
    assert set(m.to_json()) >= {"median_ms", "p90_ms", "spread"}


def test_bigger_model_is_slower(small_and_big):
    small, big = small_and_big
    a = measure_host_latency(small, runs=15)
    b = measure_host_latency(big, runs=15)
    assert b.median_ms > a.median_ms


def test_bad_arguments(small_and_big):
    with pytest.raises(AutoEdgeError):
        measure_host_latency(small_and_big[0], runs=1)


def test_interleaved_timing_takes_the_models_in_turn_every_round(small_and_big):
    small, big = small_and_big
    order: list[str] = []

    def measure(path):
        order.append(path)
        return measure_host_latency(path, runs=5, warmup=1)

    seen = time_interleaved({"small": small, "big": big}, measure, rounds=3)
    assert order == [small, big] * 3
    assert [len(v) for v in seen.values()] == [3, 3]
    assert all(m.p10_ms <= m.median_ms <= m.p90_ms for v in seen.values() for m in v)
