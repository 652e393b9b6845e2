"""The versions of autoedge and everything it runs on, for run.json and model cards."""

from __future__ import annotations

import platform
from importlib import metadata

from autoedge import __version__

_VERSIONED = ("torch", "timm", "torch-pruning", "onnx", "onnxruntime", "optuna", "numpy", "pandas")


def versions() -> dict[str, str]:
    """Package name -> installed version ("not installed" when absent), plus Python and machine."""
    out = {"autoedge": __version__, "python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["machine"] = f"{platform.machine()} {platform.system()}"
    return out
