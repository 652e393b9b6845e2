"""`autoedge evaluate` as a user runs it: a real subprocess, JSON out, clear errors."""

from __future__ import annotations

import json

import onnx
from autoedge_cli import autoedge
from timm_models import three_stage_candidate

from autoedge.compress.deployable import initializer_bytes
from autoedge.data import get_dataset
from autoedge.deploy.preprocess import InputSpec, prepare_images
from autoedge.hardware.onnx_runtime import onnx_accuracy
from autoedge.space import get_space, sample_candidates
from autoedge.space.precision import stage_of_layer

KEYS = {
    "key",
    "status",
    "accuracy",
    "accuracy_torch",
    "latency_ms",
    "latency_source",
    "size_bytes",
    "params",
    "macs",
    "peak_memory_bytes",
    "wall_s",
}
FAST = ["--space", "tiny", "--data", "digits", "--epochs", "1", "--subset", "300"]


def test_evaluate_json(tmp_path):
    cand = sample_candidates(get_space("tiny"), 1, seed=10)[0]  # 8/32-bit: the host runs it
    (tmp_path / "cand.json").write_text(cand.dumps())
    res = autoedge(
        "evaluate",
        *FAST,
        "--candidate",
        str(tmp_path / "cand.json"),
        "--teacher",
        "none",
        "--json",
        "--keep",
        str(tmp_path / "out"),
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert set(data) >= KEYS
    assert data["key"] == cand.key and data["status"] == "ok"
    assert 0.0 <= data["accuracy"] <= 1.0 and data["latency_source"] == "measured"
    assert (tmp_path / "out" / "model.onnx").is_file()
    assert (tmp_path / "out" / "model_fp32.onnx").is_file()
    assert "digits: 1438 train" in res.stderr  # says which data was used


def test_evaluate_accepts_an_inspect_line_and_prints_a_summary():
    inspect = autoedge("inspect", "--space", "tiny", "--sample", "1", "--seed", "12", "--json")
    assert inspect.returncode == 0, inspect.stderr
    res = autoedge("evaluate", *FAST, "--candidate", inspect.stdout.strip(), "--teacher", "none")
    assert res.returncode == 0, res.stderr
    assert "accuracy" in res.stdout and "ONNX Runtime" in res.stdout and "latency" in res.stdout


def test_a_gpu_that_is_not_there_exits_2_before_training():
    cand = sample_candidates(get_space("tiny"), 1, seed=0)[0]
    res = autoedge("evaluate", *FAST, "--candidate", cand.dumps(), "--device", "cuda:7")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("autoedge: error: --device cuda:7: torch sees")


def test_a_bit_width_the_target_cannot_run_fails_with_the_reason():
    cand = sample_candidates(get_space("tiny"), 1, seed=2)[0]  # has a 4-bit stage
    res = autoedge("evaluate", *FAST, "--candidate", cand.dumps(), "--teacher", "none", "--json")
    assert res.returncode == 1
    data = json.loads(res.stdout)
    assert data["status"] == "failed" and "4-bit tensors have no kernel" in data["error"]


def test_a_mixed_candidate_ships_each_stage_at_its_precision(tmp_path):
    cand = three_stage_candidate([(8, 8), (32, 32), (8, 32)])
    res = autoedge(
        "evaluate",
        *FAST,
        "--candidate",
        cand.dumps(),
        "--teacher",
        "none",
        "--json",
        "--keep",
        str(tmp_path / "out"),
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["ships_as"] == "mixed"
    assert data["precision_map"] == "int8|fp32|int8-weights"
    path = tmp_path / "out" / "model.onnx"
    model = onnx.load(str(path))
    producer = {o: n for n in model.graph.node for o in n.output}
    inits = {t.name: t for t in model.graph.initializer}
    by_stage: dict[int, set[tuple[str, str, str]]] = {0: set(), 1: set(), 2: set()}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        act = producer.get(node.input[0])
        weight = producer.get(node.input[1])
        stored = inits[weight.input[0] if weight is not None else node.input[1]]
        by_stage[stage_of_layer(node.name, 3)].add(
            (
                act.op_type if act is not None and act.op_type == "DequantizeLinear" else "float",
                weight.op_type if weight is not None else "initializer",
                onnx.helper.tensor_dtype_to_np_dtype(stored.data_type).name,
            )
        )
    # stage 0 (and the stem): Q/DQ around the convolutions' inputs, int8 weights
    assert by_stage[0] == {("DequantizeLinear", "DequantizeLinear", "int8")}
    assert any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    assert by_stage[1] == {("float", "initializer", "float32")}  # float weights
    # stage 2 (and the head): int8 weights behind DequantizeLinear, float activations
    assert by_stage[2] == {("float", "DequantizeLinear", "int8")}
    stored = initializer_bytes(path)
    assert abs(data["size_bytes"] - stored) <= 0.02 * stored
    assert data["size_bytes"] <= data["onnx_bytes"] == path.stat().st_size
    # the reported accuracy is this file's, in a fresh ONNX Runtime session
    digits = get_dataset("digits")
    spec = InputSpec(
        name="input",
        resolution=32,
        channels=1,
        mean=digits.normalization[0],
        std=digits.normalization[1],
    )
    x = prepare_images(digits.test_x, spec)
    assert abs(onnx_accuracy(path, x, digits.test_y) - data["accuracy"]) < 0.003
