"""Fit the shipped target profiles to the public measurements shipped with the package.

    .venv/bin/python scripts/calibrate_profiles.py

rpi4 <- MLPerf Inference v2.0 Raspberry Pi 4 TFLite MobileNet V1/V2 (fp32, int8);
jetson-nano, jetson-xavier <- torch2trt TensorRT fp16 benchmarks (AlexNet/ResNet/VGG);
jetson-orin-nano <- the Xavier coefficients on the Orin Nano's peaks (a transfer, labelled so).
Rewrites the `coefficients:` / `calibration:` tail of autoedge/hardware/profiles/*.yaml and
keeps the hand-written head (runtime, precisions, peaks and their sources).
"""

from __future__ import annotations

import yaml

from autoedge.compress.reference_nets import export_reference_net
from autoedge.hardware.calibration import calibrate, read_measurements
from autoedge.hardware.profiles import PROFILE_DIR, Calibration, shipped_profiles

MEASUREMENTS = PROFILE_DIR.parent / "measurements"
MARK = "# Fitted by scripts/calibrate_profiles.py"
SOURCES = {
    "rpi4": (
        "rpi4_tflite_mobilenet_v1_v2.csv",
        "MLPerf Inference v2.0 open division, Krai system rpi4-tflite-v2.7.1-ruy "
        "(mlcommons/inference_results_v2.0 @ 425a0d30, open/Krai): TF-slim MobileNet V1/V2, "
        "fp32 and int8, p50 latency; shipped as autoedge/hardware/measurements/"
        "rpi4_tflite_mobilenet_v1_v2.csv",
    ),
    "jetson-nano": (
        "jetson_tensorrt_fp16_torchvision.csv",
        "NVIDIA-AI-IOT/torch2trt benchmarks/JETSON_NANO.md @ 5eeddca7: torchvision AlexNet, "
        "ResNet, VGG, TensorRT fp16, batch 1, 224x224; shipped as autoedge/hardware/"
        "measurements/jetson_tensorrt_fp16_torchvision.csv",
    ),
    "jetson-xavier": (
        "jetson_tensorrt_fp16_torchvision.csv",
        "NVIDIA-AI-IOT/torch2trt benchmarks/JETSON_XAVIER.md @ 46801295: torchvision AlexNet, "
        "ResNet, VGG, TensorRT fp16, batch 1, 224x224; shipped as autoedge/hardware/"
        "measurements/jetson_tensorrt_fp16_torchvision.csv",
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


def main() -> None:
    profiles = shipped_profiles()
    for name, (csv, source) in SOURCES.items():
        prof = profiles[name]
        rows = read_measurements(
            MEASUREMENTS / csv, device=prof.device_id, log=print, exporter=export_reference_net
        )
        report = calibrate(prof, rows, source=source)
        _rewrite(name, report.profile.coefficients, report.profile.calibration)
        print(name, report.fit.to_json())
        for fam, q in report.held_out.items():
            print(f"  held out {fam}: model {q['model']}  macs {q['macs_baseline']}")
    xavier = shipped_profiles()["jetson-xavier"]
    transfer = Calibration(
        source="transferred, not calibrated: the jetson-xavier coefficients (TensorRT fp16, "
        f"torch2trt AlexNet/ResNet/VGG) on this device's published peaks; "
        f"{xavier.calibration.source}",
        rows=0,
        fitted_at=xavier.calibration.fitted_at,
    )
    _rewrite("jetson-orin-nano", xavier.coefficients, transfer)


if __name__ == "__main__":
    main()
