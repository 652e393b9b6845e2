"""`autoedge targets`, `latency`, `calibrate`, and a search measured through a real agent."""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import timm
import torch
import yaml
from autoedge_cli import autoedge

from autoedge.compress.export import export_onnx
from autoedge.hardware.agent_server import AgentConfig, make_server
from autoedge.hardware.host_latency import LatencyMeasurement
from autoedge.hardware.host_store import record_measurement, refit_host, stored_measurements
from autoedge.hardware.latency_model import predict_ms
from autoedge.hardware.onnx_graph import graph_work
from autoedge.hardware.profiles import shipped_profiles

MEASUREMENTS = Path(__file__).parents[2] / "autoedge/hardware/measurements"


@pytest.fixture(scope="module")
def mnv3_large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = timm.create_model("tf_mobilenetv3_large_100").eval()
    folder = tmp_path_factory.mktemp("mnv3")
    return export_onnx(model, torch.randn(2, 3, 224, 224), folder / "m.onnx")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "AUTOEDGE_CACHE": str(tmp_path / "cache"), **extra}


def test_rpi4_int8_is_predicted_faster_than_fp32(mnv3_large: Path, tmp_path: Path) -> None:
    res = {}
    for prec in ("int8", "fp32"):
        r = autoedge(
            "latency",
            str(mnv3_large),
            "--target",
            "rpi4",
            "--precision",
            prec,
            "--json",
            env=_env(tmp_path),
        )
        assert r.returncode == 0, r.stderr
        res[prec] = json.loads(r.stdout)
        assert {"target", "precision", "latency_ms", "latency_source"} <= set(res[prec])
        assert res[prec]["latency_source"] == "predicted" and res[prec]["target"] == "rpi4"
        assert "MLPerf" in res[prec]["calibration"]["source"]
    assert 0 < res["int8"]["latency_ms"] < res["fp32"]["latency_ms"]


def test_predictions_carry_an_interval_wider_for_a_transfer(
    mnv3_large: Path, tmp_path: Path
) -> None:
    """Acceptance (issue 23): low < point < high; `jetson` (the Orin Nano, a transfer of the
    Xavier fit) has a wider relative interval than `jetson-xavier` (a calibration)."""
    width = {}
    for target in ("jetson", "jetson-xavier"):
        r = autoedge(
            "latency",
            str(mnv3_large),
            "--target",
            target,
            "--precision",
            "fp16",
            "--json",
            env=_env(tmp_path),
        )
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        assert 0 < d["latency_low_ms"] < d["latency_ms"] < d["latency_high_ms"]
        assert d["calibration"]["interval"]["level"] == 0.8
        width[target] = (d["latency_high_ms"] - d["latency_low_ms"]) / d["latency_ms"]
    assert width["jetson"] > width["jetson-xavier"]
    text = autoedge("latency", str(mnv3_large), "--target", "jetson", env=_env(tmp_path))
    assert text.returncode == 0 and "(predicted, " in text.stdout


def test_a_precision_the_runtime_lacks_is_refused(mnv3_large: Path, tmp_path: Path) -> None:
    r = autoedge(
        "latency",
        str(mnv3_large),
        "--target",
        "jetson-nano",
        "--precision",
        "int8",
        env=_env(tmp_path),
    )
    assert r.returncode == 2 and "does not execute int8" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_targets_lists_runtime_precisions_and_calibration(tmp_path: Path) -> None:
    r = autoedge("targets", "--json", env=_env(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = {t["name"]: t for t in json.loads(r.stdout)}
    assert {"host", "rpi4", "jetson-nano", "jetson-orin-nano", "jetson-xavier"} <= set(rows)
    assert rows["host"]["latency"] == "measured" and rows["rpi4"]["latency"] == "predicted"
    assert "jetson" in rows["jetson-orin-nano"]["aliases"]
    for name in ("rpi4", "jetson-nano", "jetson-orin-nano", "jetson-xavier"):
        assert rows[name]["interval"]["low"] < 1 < rows[name]["interval"]["high"]
    assert rows["jetson-xavier"]["held_out_mape"] > 0
    assert "d8b43bd" in rows["jetson-xavier"]["runtime_version"]


def test_calibrate_writes_a_profile_and_cross_validates(tmp_path: Path) -> None:
    full = pd.read_csv(MEASUREMENTS / "rpi4_tflite_mobilenet_v1_v2.csv")
    small = full[(full["width_mult"] <= 0.5) & (full["resolution"] <= 160)]
    csv = tmp_path / "m.csv"
    small.to_csv(csv, index=False)
    out = tmp_path / "rpi4-mine.yaml"
    r = autoedge(
        "calibrate",
        "--target",
        "rpi4",
        "--measurements",
        str(csv),
        "--out",
        str(out),
        "--json",
        env=_env(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["fit"]["n"] == len(small) and set(rep["held_out"]) == {
        "mobilenet_v1",
        "mobilenet_v2",
    }
    prof = yaml.safe_load(out.read_text())
    assert prof["calibration"]["rows"] == len(small) and prof["coefficients"]
    used = autoedge(
        "latency", str(MEASUREMENTS / "README.md"), "--target", str(out), env=_env(tmp_path)
    )
    assert used.returncode == 2 and "not an ONNX model" in used.stderr


def test_host_measurements_calibrate_the_host_model(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUTOEDGE_CACHE", str(tmp_path / "cache"))
    host = shipped_profiles()["host"]
    for width in (8, 16, 24, 32):
        model = torch.nn.Sequential(torch.nn.Conv2d(1, width, 3), torch.nn.ReLU()).eval()
        path = export_onnx(model, torch.randn(2, 1, 32, 32), tmp_path / f"m{width}.onnx")
        ms = 0.01 * width
        record_measurement(host, graph_work(path), LatencyMeasurement(ms, ms, ms, 0, 5, 1))
    assert len(stored_measurements(host)) == 4
    report = refit_host(host, minimum=4)
    assert report.fit.n == 4 and report.profile.coefficients


@pytest.fixture()
def agent_port() -> Iterator[int]:
    server = make_server(AgentConfig(token="s3cret", port=0), log=lambda _m: None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.port
    server.shutdown()
    server.server_close()


def test_search_on_an_agent_target_is_measured(agent_port: int, tmp_path: Path) -> None:
    run = tmp_path / "run"
    r = autoedge(
        "search",
        "--space",
        "tiny",
        "--data",
        "digits",
        "--target",
        f"agent:127.0.0.1:{agent_port}",
        "--budget",
        "2",
        "--epochs",
        "1",
        "--subset",
        "300",
        "--teacher",
        "none",
        "--no-warm-start",
        "--out",
        str(run),
        env=_env(tmp_path, AUTOEDGE_AGENT_TOKEN="s3cret"),
    )
    assert r.returncode == 0, r.stderr
    assert "bit-widths 4 are not searched" in r.stderr
    trials = pd.read_csv(run / "trials.csv")
    assert (trials["state"] == "ok").sum() == 2
    assert set(trials["latency_source"]) == {"measured"}
    space = yaml.safe_load(json.loads((run / "run.json").read_text())["space_yaml"])
    assert all(4 not in s["weight_bits"] for s in space["stages"])


def test_validate_on_an_agent_measures_front_points_and_refits(
    agent_port: int, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    env = _env(tmp_path, AUTOEDGE_AGENT_TOKEN="s3cret")
    args = ["search", "--space", "tiny", "--data", "digits", "--target", "rpi4",
            "--validate-on", f"agent:127.0.0.1:{agent_port}", "--epochs", "1", "--subset",
            "300", "--teacher", "none", "--no-warm-start", "--workers", "2",
            "--out", str(run)]  # fmt: skip
    r = autoedge(*args, "--budget", "4", "--json", env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)["validation"]
    trials = pd.read_csv(run / "trials.csv").set_index("number")
    assert set(trials["latency_source"]) == {"predicted"}  # the search's numbers stay labelled
    checks = [json.loads(line) for line in (run / "validation.jsonl").read_text().splitlines()]
    assert 1 <= len(checks) == summary["checked"] <= 4
    assert checks[0]["number"] in trials.index  # the first trial to finish is the front
    assert not list((run / ".validate").glob("*"))  # every kept model was handed over
    for c in checks:  # each check is that trial's model, predicted as the search recorded it
        assert c["measured_ms"] > 0 and c["device"] == f"agent:127.0.0.1:{agent_port}"
        assert c["predicted_ms"] == pytest.approx(trials.loc[c["number"], "latency_ms"])
    refit = yaml.safe_load((run / "validated_profile.yaml").read_text())
    assert refit["calibration"]["rows"] == len(checks)
    assert f"{len(checks)} front points measured on agent:" in refit["calibration"]["source"]
    # Below 8 checks the shipped model is rescaled so its log-errors on the checks cancel out.
    coefs, precisions = refit["coefficients"], refit["precisions"]
    ratios = [c["measured_ms"] / predict_ms(c["features"], coefs, precisions) for c in checks]
    assert abs(sum(map(math.log, ratios))) < 1e-6
    shipped = shipped_profiles()["rpi4"].coefficients
    assert refit["coefficients"] != shipped

    again = autoedge(*args, "--budget", "6", env=env)  # resumed: the checks are read back
    assert again.returncode == 0, again.stderr
    assert f"({len(checks)} checks so far)" in again.stderr
    after = (run / "validation.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in after[: len(checks)]] == checks


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target", "host", "--validate-on", "agent:127.0.0.1:9"], "is measured already"),
        (["--target", "rpi4", "--validate-on", "rpi4"], "takes a device agent, agent:HOST:PORT"),
        (["--target", "rpi4", "--validate-on", "agent:127.0.0.1:9", "--backend", "ray"],
         "not with ray"),
    ],
)  # fmt: skip
def test_validate_on_bad_input(extra: list[str], message: str, tmp_path: Path) -> None:
    env = _env(tmp_path, AUTOEDGE_AGENT_TOKEN="t")
    r = autoedge("search", "--space", "tiny", "--data", "digits", "--budget", "1", *extra,
                 "--out", str(tmp_path / "run"), env=env)  # fmt: skip
    assert r.returncode == 2 and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_latency_budget_can_bind_the_upper_end_of_the_interval(tmp_path: Path) -> None:
    """Acceptance (issue 23): `--latency-bound high` keeps on the front only points whose
    80% interval ends within the budget (about 90% odds on the device), and says so."""
    run = tmp_path / "run"
    bound = 0.75
    r = autoedge(
        "search", "--space", "tiny", "--data", "digits", "--target", "jetson",
        "--budget", "6", "--rungs", "1", "--epochs", "1", "--subset", "300",
        "--teacher", "none", "--no-warm-start", "--max-latency-ms", str(bound),
        "--latency-bound", "high", "--out", str(run), "--json",
        env=_env(tmp_path),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "upper end of its 80% range" in r.stderr
    front = pd.read_csv(run / "pareto.csv")
    trials = pd.read_csv(run / "trials.csv")
    assert len(front) and (front["latency_high_ms"] <= bound).all()
    assert (front["latency_low_ms"] < front["latency_ms"]).all()
    # some candidate meets the budget on its point estimate but not on its upper end
    only_point = trials[(trials["latency_ms"] <= bound) & (trials["latency_high_ms"] > bound)]
    assert len(only_point) and not set(only_point["number"]) & set(front["number"])
    picked = autoedge(
        "pick", str(run), "--max-latency-ms", str(bound), "--latency-bound", "high", "--json",
        env=_env(tmp_path),
    )  # fmt: skip
    assert picked.returncode == 0, picked.stderr
    assert json.loads(picked.stdout)["latency_high_ms"] <= bound
    exported = autoedge(
        "export", str(run), "--max-latency-ms", str(bound), "--latency-bound", "high",
        "--refit-epochs", "1", "--out", str(tmp_path / "model"), "--json",
        env=_env(tmp_path),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    card = json.loads(exported.stdout)["card"]
    on_target = card["latency"]["target"]
    assert (
        on_target["source"] == "predicted" and card["trial"] == json.loads(picked.stdout)["number"]
    )
    assert on_target["low_ms"] < on_target["median_ms"] < on_target["high_ms"]
    assert "(80%: " in (tmp_path / "model" / "model_card.md").read_text()
