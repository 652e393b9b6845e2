"""autoedge.deploy: export a chosen point as a verified, self-describing folder; verify one.

`export_point` needs torch (it retrains); `verify_export` and the card helpers do not.
"""

from autoedge.deploy.card import EXPORT_FILES, EXPORT_TOLERANCE, read_card, render_markdown
from autoedge.deploy.preprocess import InputSpec, prepare_images
from autoedge.deploy.verify import Check, VerifyReport, verify_export

__all__ = [
    "EXPORT_FILES",
    "EXPORT_TOLERANCE",
    "Check",
    "ExportReport",
    "InputSpec",
    "VerifyReport",
    "export_point",
    "prepare_images",
    "read_card",
    "render_markdown",
    "verify_export",
]


def __getattr__(name: str) -> object:
    if name in ("export_point", "ExportReport"):  # imported on use: it pulls in torch
        from autoedge.deploy import exporter

        return getattr(exporter, name)
    raise AttributeError(name)
