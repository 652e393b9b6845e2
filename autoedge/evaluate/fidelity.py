"""How hard a candidate is trained and measured: the fidelity of one evaluation."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from autoedge.errors import AutoEdgeError
from autoedge.fields import reject_unknown_fields


@dataclass(frozen=True)
class Fidelity:
    """Training budget and measurement sizes for one evaluation; seeds are fixed by `seed`.

    `subset` / `test_subset` cap the training images and the test images (0 = all of them);
    after compression the network is fine-tuned with fake quantization for `finetune_epochs`
    passes over `finetune_subset` of the training images.
    """

    epochs: int = 3
    subset: int = 5000
    finetune_epochs: int = 1
    finetune_subset: int = 1000
    test_subset: int = 2000
    batch_size: int = 64
    lr: float = 0.02
    seed: int = 0
    calibration_images: int = 64
    latency_runs: int = 20

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
        }
        for name, (value, low) in ints.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise AutoEdgeError(f"fidelity {name} is {value!r}; use an integer >= {low}")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise AutoEdgeError(f"fidelity lr is {self.lr!r}; use a number > 0")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fidelity:
        reject_unknown_fields(cls, data, "fidelity fields")
        return cls(**data)

    def with_budget(self, *, epochs: int | None = None, subset: int | None = None) -> Fidelity:
        """This fidelity with the training budget changed (None keeps a value)."""
        return replace(
            self,
            epochs=self.epochs if epochs is None else epochs,
            subset=self.subset if subset is None else subset,
        )


#: The search's per-candidate budget (see results/bench_evaluate.md for what it costs).
DEFAULT_FIDELITY = Fidelity()
#: Refinement and export: all training images, the whole test split.
FULL_FIDELITY = Fidelity(
    epochs=10, subset=0, finetune_epochs=1, finetune_subset=5000, test_subset=0, latency_runs=50
)
