"""verify.py's checks one at a time: hashes, loading, and the card's per-stage precision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_models import conv_model

from autoedge.compress.int8_onnx import quantize_int8
from autoedge.deploy.card import file_sha256
from autoedge.deploy.verify import Check, VerifyReport, _hash, _loads, _precision
from autoedge.hardware.onnx_precision import deployed_precision_map


def _card(precision_map: list[str] | None, ships_as: str | None, precision: str = "fp32") -> dict:
    model: dict[str, Any] = {"precision": precision}
    if precision_map is not None:
        model["precision_map"] = precision_map
    if ships_as is not None:
        model["ships_as"] = ships_as
    return {"model": model}


@pytest.fixture(scope="module")
def fp32_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fp32") / "model.onnx"
    path.write_bytes(conv_model(cin=1, cout=4, hw=16))
    return path


@pytest.fixture(scope="module")
def int8_model(fp32_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("int8") / "model.onnx"
    calibration = np.random.default_rng(0).standard_normal((1, 1, 16, 16)).astype(np.float32)
    return quantize_int8(fp32_model, out, calibration)


def _stage_name(stage: int) -> str:
    return f"/blocks/blocks.{stage}/blocks.{stage}.0/conv_pw/Conv"


@pytest.fixture(scope="module")
def mixed_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three stages of 1x1 Convs named as an export names them: stage 0 int8 (input and weight
    through DequantizeLinear, output requantized, as ONNX Runtime writes it), stage 1
    int8-weights (its weight through DequantizeLinear; its input is stage 0's dequantized
    output, yet it computes in float), stage 2 fp16."""
    rng = np.random.default_rng(0)
    c = 4
    w_int8 = numpy_helper.from_array(rng.integers(-8, 8, (c, c, 1, 1)).astype(np.int8), "w0_q")
    w1_int8 = numpy_helper.from_array(rng.integers(-8, 8, (c, c, 1, 1)).astype(np.int8), "w1_q")
    w2_fp16 = numpy_helper.from_array(rng.standard_normal((c, c, 1, 1)).astype(np.float16), "w2")
    scale = numpy_helper.from_array(np.array(0.05, np.float32), "s")
    zero_u8 = numpy_helper.from_array(np.array(128, np.uint8), "z_u8")
    zero_i8 = numpy_helper.from_array(np.array(0, np.int8), "z_i8")
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z_u8"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "s", "z_u8"], ["x_dq"]),
        helper.make_node("DequantizeLinear", ["w0_q", "s", "z_i8"], ["w0"]),
        helper.make_node("Conv", ["x_dq", "w0"], ["y0"], name=_stage_name(0)),
        helper.make_node("QuantizeLinear", ["y0", "s", "z_u8"], ["y0_q"]),
        helper.make_node("DequantizeLinear", ["y0_q", "s", "z_u8"], ["y0_dq"]),
        helper.make_node("DequantizeLinear", ["w1_q", "s", "z_i8"], ["w1"]),
        helper.make_node("Conv", ["y0_dq", "w1"], ["y1"], name=_stage_name(1)),
        helper.make_node("Cast", ["y1"], ["y1_h"], to=TensorProto.FLOAT16),
        helper.make_node("Conv", ["y1_h", "w2"], ["y2_h"], name=_stage_name(2)),
        helper.make_node("Cast", ["y2_h"], ["y"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "mixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, 8, 8])],
        [w_int8, w1_int8, w2_fp16, scale, zero_u8, zero_i8],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path_factory.mktemp("mixed") / "model.onnx"
    onnx.save(model, str(path))
    return path


# --- _hash


def test_hash_matches_the_file(fp32_model) -> None:
    digest = file_sha256(fp32_model)
    check = _hash(fp32_model, digest, "model.onnx")
    assert check == Check("model.onnx sha256", True, digest[:16] + "…")


def test_hash_of_a_changed_file_fails_and_says_so(fp32_model, tmp_path) -> None:
    copy = tmp_path / "model.onnx"
    data = bytearray(fp32_model.read_bytes())
    expected = file_sha256(fp32_model)
    data[-1] ^= 0xFF  # one flipped byte
    copy.write_bytes(bytes(data))
    check = _hash(copy, expected, "model.onnx")
    assert check.name == "model.onnx sha256" and not check.ok
    assert check.detail.startswith(file_sha256(copy)[:16])
    assert f"the card's {expected[:16]}" in check.detail and "changed or corrupted" in check.detail


def test_hash_of_a_missing_file(tmp_path) -> None:
    check = _hash(tmp_path / "weights.safetensors", "0" * 64, "weights.safetensors")
    assert check == Check("weights.safetensors sha256", False, "file missing")


# --- _loads


def test_a_valid_model_loads(fp32_model, int8_model, mixed_model) -> None:
    for path in (fp32_model, int8_model, mixed_model):
        assert _loads(path) == Check("model loads", True, "onnx checker passed"), path


@pytest.mark.parametrize(
    "content",
    [b"", b"not an onnx model at all \x00\xff", "half"],
    ids=["empty", "garbage", "truncated"],
)
def test_a_broken_model_does_not_load(content, fp32_model, tmp_path) -> None:
    path = tmp_path / "model.onnx"
    if content == "half":
        content = fp32_model.read_bytes()[: len(fp32_model.read_bytes()) // 2]
    path.write_bytes(content)
    check = _loads(path)
    assert check.name == "model loads" and not check.ok
    assert check.detail.startswith("model.onnx is not a valid ONNX model:")
    assert len(check.detail) <= len("model.onnx is not a valid ONNX model: ") + 160


def test_a_missing_model_does_not_load(tmp_path) -> None:
    check = _loads(tmp_path / "model.onnx")
    assert not check.ok and "not a valid ONNX model" in check.detail


# --- _precision


def test_a_card_without_a_precision_map_only_names_its_precision(fp32_model) -> None:
    check = _precision(fp32_model, _card(None, None, precision="int8"))
    assert check == Check("precision", True, "card says int8; no map")


def test_fp32_file_matches_an_fp32_card(fp32_model) -> None:
    # the Conv node has no layer name: it counts for every stage
    assert deployed_precision_map(fp32_model, 3) == ("fp32", "fp32", "fp32")
    check = _precision(fp32_model, _card(["fp32"] * 3, "fp32"))
    assert check == Check("precision", True, "ships as fp32: fp32, fp32, fp32")


def test_int8_file_matches_an_int8_card_and_not_an_fp32_one(int8_model) -> None:
    assert deployed_precision_map(int8_model, 2) == ("int8", "int8")
    assert _precision(int8_model, _card(["int8", "int8"], "int8")).ok
    check = _precision(int8_model, _card(["fp32", "int8"], "mixed"))
    assert not check.ok
    assert check.detail == "model.onnx does not ship as its card says: stage 0: int8 (card fp32)"


def test_each_stage_of_a_mixed_file_is_read_off_its_nodes(mixed_model) -> None:
    found = ("int8", "int8-weights", "fp16")
    assert deployed_precision_map(mixed_model, 3) == found
    check = _precision(mixed_model, _card(list(found), "mixed"))
    assert check.ok and check.detail == "ships as mixed: int8, int8-weights, fp16"


def test_every_wrong_stage_is_named(mixed_model) -> None:
    check = _precision(mixed_model, _card(["int8", "fp32", "fp32"], "mixed"))
    assert not check.ok
    assert check.detail.endswith("stage 1: int8-weights (card fp32); stage 2: fp16 (card fp32)")


def test_a_right_map_with_the_wrong_ships_as_fails(fp32_model) -> None:
    check = _precision(fp32_model, _card(["fp32", "fp32"], "int8"))
    assert not check.ok
    assert check.detail == "model.onnx does not ship as its card says: ships as fp32 (card int8)"
    assert not _precision(fp32_model, _card(["fp32", "fp32"], None)).ok  # ships_as missing


def test_report_is_ok_only_when_every_check_is() -> None:
    good, bad = Check("a", True, "fine"), Check("b", False, "broken")
    assert VerifyReport(Path("x"), (good,)).ok
    report = VerifyReport(Path("x"), (good, bad))
    assert not report.ok and report.failures == [bad]
    assert report.to_json() == {
        "folder": "x",
        "ok": False,
        "checks": [
            {"name": "a", "ok": True, "detail": "fine"},
            {"name": "b", "ok": False, "detail": "broken"},
        ],
    }
