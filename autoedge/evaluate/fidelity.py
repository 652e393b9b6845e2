"""How hard a candidate is trained and measured: the fidelity of one evaluation."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from autoedge.errors import AutoEdgeError
from autoedge.fields import reject_unknown_fields

#: The fine-tune learning-rate factor of fidelities saved before it was a field.
LEGACY_FINETUNE_LR_SCALE = 0.2


@dataclass(frozen=True)
class Fidelity:
    """Training budget and measurement sizes for one evaluation; seeds are fixed by `seed`.

    `subset` / `test_subset` cap the training images and the test images (0 = all of them);
    after compression the network is fine-tuned with fake quantization for `finetune_epochs`
    passes over `finetune_subset` of the training images, at `finetune_lr_scale` times `lr`.
    `rung` > 0 (multi-fidelity search, search/asha.py) continues a compressed network saved at
    the rung below: no training from scratch, `finetune_epochs` more fine-tune passes.
    """

    epochs: int = 1
    subset: int = 3500
    finetune_epochs: int = 2
    finetune_subset: int = 3500
    test_subset: int = 2000
    batch_size: int = 64
    lr: float = 0.02
    finetune_lr_scale: float = 1.0
    seed: int = 0
    calibration_images: int = 64
    latency_runs: int = 20
    rung: int = 0

    def __post_init__(self) -> None:
        ints = {
            "epochs": (self.epochs, 1),
            "subset": (self.subset, 0),
            "finetune_epochs": (self.finetune_epochs, 0),
            "finetune_subset": (self.finetune_subset, 0),
            "test_subset": (self.test_subset, 0),
            "batch_size": (self.batch_size, 1),
            "calibration_images": (self.calibration_images, 1),
            "latency_runs": (self.latency_runs, 3),
            "rung": (self.rung, 0),
        }
        for name, (value, low) in ints.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise AutoEdgeError(f"fidelity {name} is {value!r}; use an integer >= {low}")
        for name, value in (("lr", self.lr), ("finetune_lr_scale", self.finetune_lr_scale)):
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and value > 0):
                raise AutoEdgeError(f"fidelity {name} is {value!r}; use a number > 0")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """The training budget in words, e.g. "1 epoch x 3500 images, then 2 fine-tune epochs
        x 3500 images after compression"."""
        if self.rung > 0:
            ft = _count(self.finetune_epochs, "more fine-tune epoch")
            return f"rung {self.rung}: {ft} x {self.finetune_images or 'all'} images"
        text = f"{_count(self.epochs, 'epoch')} x {self.subset or 'all'} images"
        if self.finetune_epochs:
            ft = _count(self.finetune_epochs, "fine-tune epoch")
            text += f", then {ft} x {self.finetune_images or 'all'} images after compression"
        return text

    @property
    def finetune_images(self) -> int:
        """Images per fine-tune epoch: the first `finetune_subset` of the training images
        (0 = all of them)."""
        if not self.subset:
            return self.finetune_subset
        return min(self.finetune_subset or self.subset, self.subset)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fidelity:
        reject_unknown_fields(cls, data, "fidelity fields")
        # Runs written before the field existed fine-tuned at 0.2x; a resumed run keeps that.
        return cls(**{"finetune_lr_scale": LEGACY_FINETUNE_LR_SCALE, **data})

    def with_budget(self, *, epochs: int | None = None, subset: int | None = None) -> Fidelity:
        """This fidelity with the training budget changed (None keeps a value)."""
        return replace(
            self,
            epochs=self.epochs if epochs is None else epochs,
            subset=self.subset if subset is None else subset,
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


#: The search's per-candidate budget (see results/bench_evaluate.md for what it costs and
#: gives): one epoch over 3500 images, then two fine-tune epochs after compression at the full
#: learning rate -- pruned and factorized networks need that much to recover; an uncompressed
#: one simply trains on.
DEFAULT_FIDELITY = Fidelity()
#: Refinement and export: all training images, the whole test split. After ten epochs a short
#: fine-tune at the full learning rate costs an uncompressed network accuracy (restarting the
#: schedule on a few images), so the fine-tune here is one epoch over all images at half of it.
FULL_FIDELITY = Fidelity(
    epochs=10,
    subset=0,
    finetune_epochs=1,
    finetune_subset=0,
    finetune_lr_scale=0.5,
    test_subset=0,
    latency_runs=50,
)
