"""Fit the shipped target profiles to the public measurements shipped with the package.

    .venv/bin/python scripts/calibrate_profiles.py

rpi4 <- MLPerf Inference v2.0 Raspberry Pi 4 TFLite MobileNet V1/V2 (fp32, int8);
jetson-xavier <- torch2trt TensorRT fp16 benchmarks of two sessions (d8b43bd with depthwise
networks, the reference; 46801295 with its own latency scale); jetson-nano <- the older
session's Nano rows (AlexNet/ResNet/VGG), depthwise kept at the Xavier efficiency;
jetson-orin-nano <- the Xavier coefficients on the Orin Nano's peaks (a transfer, labelled so,
its interval widened by the measured error of a transfer between Nano and Xavier).
Each profile's 80% interval comes from its leave-one-family-out residuals.
Rewrites the `coefficients:` / `calibration:` tail of autoedge/hardware/profiles/*.yaml and
keeps the hand-written head (runtime, precisions, peaks and their sources).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace

import yaml

from autoedge.cache import cache_root
from autoedge.compress.reference_nets import export_reference_net
from autoedge.hardware.calibration import (
    REFERENCE_OPWORK,
    CalibrationReport,
    Measurement,
    calibrate,
    read_measurements,
    shipped_opwork,
    transfer_residuals,
)
from autoedge.hardware.latency_interval import added, interval_from
from autoedge.hardware.profiles import PROFILE_DIR, Calibration, shipped_profiles

MEASUREMENTS = PROFILE_DIR.parent / "measurements"
MARK = "# Fitted by scripts/calibrate_profiles.py"
RPI4 = "rpi4_tflite_mobilenet_v1_v2.csv"
TRT_OLD = "jetson_tensorrt_fp16_torchvision.csv"  # Nano @ 5eeddca7, Xavier @ 46801295
TRT_XAVIER = "jetson_xavier_tensorrt_fp16_torchvision_d8b43bd.csv"  # Xavier @ d8b43bd
#: The families of networks built from depthwise convolutions in the Xavier measurements.
DEPTHWISE_FAMILIES = ("mnasnet", "mobilenet_v", "shufflenet_v")
#: profile -> (measurement files, the session the coefficients describe, source text)
SOURCES = {
    "rpi4": (
        (RPI4,),
        "rpi4_tflite_mobilenet_v1_v2",
        "MLPerf Inference v2.0 open division, Krai system rpi4-tflite-v2.7.1-ruy "
        "(mlcommons/inference_results_v2.0 @ 425a0d30, open/Krai): TF-slim MobileNet V1/V2, "
        f"fp32 and int8, p50 latency; shipped as autoedge/hardware/measurements/{RPI4}",
    ),
    "jetson-xavier": (
        (TRT_XAVIER, TRT_OLD),
        TRT_XAVIER.removesuffix(".csv"),
        "NVIDIA-AI-IOT/torch2trt benchmarks/JETSON_XAVIER.md @ d8b43bd (torchvision AlexNet, "
        "SqueezeNet, ResNet, DenseNet, VGG, MobileNetV2, ShuffleNetV2, MnasNet) and @ 46801295 "
        "(AlexNet, ResNet, VGG; another TensorRT version, fitted with its own latency scale), "
        f"TensorRT fp16, batch 1, 224x224; shipped as autoedge/hardware/measurements/"
        f"{TRT_XAVIER} and {TRT_OLD}",
    ),
    "jetson-nano": (
        (TRT_OLD,),
        TRT_OLD.removesuffix(".csv"),
        "NVIDIA-AI-IOT/torch2trt benchmarks/JETSON_NANO.md @ 5eeddca7: torchvision AlexNet, "
        "ResNet, VGG, TensorRT fp16, batch 1, 224x224 (no depthwise network: depthwise "
        "convolutions keep the jetson-xavier efficiency); shipped as autoedge/hardware/"
        f"measurements/{TRT_OLD}",
    ),
}


def _rewrite(name: str, coefficients: dict[str, float], calibration: Calibration) -> None:
    path = PROFILE_DIR / f"{name}.yaml"
    head = path.read_text().split(MARK)[0]
    tail = yaml.safe_dump(
        {
            "coefficients": {k: round(v, 6) for k, v in sorted(coefficients.items())},
            "calibration": calibration.to_json(),
        },
        sort_keys=False,
        width=100,
    )
    path.write_text(f"{head}{MARK} (everything below is rewritten by it).\n{tail}")


def _measurements(files: tuple[str, ...], device: str) -> list[Measurement]:
    out = []
    for csv in files:
        out += read_measurements(
            MEASUREMENTS / csv, device=device, log=print, exporter=export_reference_net
        )
    return out


def _fit(name: str, prior: dict[str, float] | None = None) -> CalibrationReport:
    files, session, source = SOURCES[name]
    prof = shipped_profiles()[name]
    rows = _measurements(files, prof.device_id)
    report = calibrate(prof, rows, source=source, reference_session=session, prior=prior)
    _rewrite(name, report.profile.coefficients, report.profile.calibration)
    cal = report.profile.calibration
    print(name, report.fit.to_json(), "held-out MAPE", cal.held_out_mape(), cal.interval)
    for fam, q in report.held_out.items():
        print(f"  held out {fam}: model {q['model']}  macs {q['macs_baseline']}")
    return report


def _ship_opwork() -> None:
    """Bundle the operator work of every reference network the shipped files name."""
    ids = set()
    for files, _, _ in SOURCES.values():
        for csv in files:
            ids |= {
                m.model
                for m in read_measurements(MEASUREMENTS / csv, exporter=export_reference_net)
            }
    cached = {i: cache_root() / "opwork" / f"{i}.json" for i in sorted(ids)}
    bundle = {
        i: json.loads(p.read_text()) if p.is_file() else shipped_opwork()[i]
        for i, p in cached.items()
    }
    with gzip.open(REFERENCE_OPWORK, "wt", encoding="utf-8") as f:
        json.dump(bundle, f, separators=(",", ":"))
    print(f"{len(bundle)} reference networks' operator work -> {REFERENCE_OPWORK}")


def main() -> None:
    _fit("rpi4")
    xavier = _fit("jetson-xavier")
    nano = _fit("jetson-nano", prior=xavier.profile.coefficients)
    # The Nano rows hold no depthwise network: its depthwise efficiency is the Xavier one,
    # so its interval adds how the Xavier fit does on depthwise families it has not seen.
    depthwise = xavier.held_out_residuals(DEPTHWISE_FAMILIES)
    nano_interval = interval_from(
        added(nano.held_out_residuals(), depthwise),
        basis=f"jetson-nano leave-one-family-out residuals ({len(nano.held_out_residuals())}) "
        f"plus jetson-xavier's on held-out depthwise families ({len(depthwise)}): this "
        "profile's depthwise efficiency is the Xavier one",
    )
    cal = replace(nano.profile.calibration, interval=nano_interval.to_json())
    _rewrite("jetson-nano", nano.profile.coefficients, cal)
    print("jetson-nano interval", nano_interval.to_json())
    # The Orin Nano has no public measurements: the Xavier fit on its peaks. How far such a
    # move lands is measured between the two Jetsons that have measurements of one session
    # (46801295 / 5eeddca7: the Xavier fit of those rows on the Nano's peaks, and back).
    profiles = shipped_profiles()
    old_x = _measurements((TRT_OLD,), profiles["jetson-xavier"].device_id)
    old_n = _measurements((TRT_OLD,), profiles["jetson-nano"].device_id)
    fit_x = calibrate(profiles["jetson-xavier"], old_x, source="transfer check").profile
    fit_n = calibrate(profiles["jetson-nano"], old_n, source="transfer check").profile
    moves = transfer_residuals(fit_x, profiles["jetson-nano"], old_n) + transfer_residuals(
        fit_n, profiles["jetson-xavier"], old_x
    )
    held = xavier.held_out_residuals()
    interval = interval_from(
        added(held, moves),
        basis=f"jetson-xavier leave-one-family-out residuals ({len(held)}) plus "
        f"the error of moving a fit between Jetson Nano and AGX Xavier ({len(moves)} "
        "measurements, both directions)",
    )
    transfer = Calibration(
        source="transferred, not calibrated: the jetson-xavier coefficients on this device's "
        f"published peaks; {xavier.profile.calibration.source}",
        rows=0,
        fitted_at=xavier.profile.calibration.fitted_at,
        interval=interval.to_json(),
    )
    print("jetson-orin-nano transfer interval", interval.to_json())
    _rewrite("jetson-orin-nano", xavier.profile.coefficients, transfer)
    _ship_opwork()


if __name__ == "__main__":
    main()
