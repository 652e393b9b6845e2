"""Fidelity: validation, JSON round trip, and runs saved before a field existed."""

from __future__ import annotations

import pytest

from autoedge.errors import AutoEdgeError
from autoedge.evaluate.fidelity import DEFAULT_FIDELITY, LEGACY_FINETUNE_LR_SCALE, Fidelity


def test_round_trip_keeps_every_field():
    fid = Fidelity(epochs=2, subset=300, finetune_lr_scale=0.5)
    assert Fidelity.from_json(fid.to_json()) == fid


def test_a_fidelity_saved_without_the_finetune_lr_scale_keeps_its_old_fine_tune():
    saved = DEFAULT_FIDELITY.to_json()
    del saved["finetune_lr_scale"]
    assert Fidelity.from_json(saved).finetune_lr_scale == LEGACY_FINETUNE_LR_SCALE
    assert DEFAULT_FIDELITY.finetune_lr_scale != LEGACY_FINETUNE_LR_SCALE


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_a_bad_finetune_lr_scale_is_refused_by_name(value):
    with pytest.raises(AutoEdgeError, match="finetune_lr_scale"):
        Fidelity(finetune_lr_scale=value)


def test_describe_counts_the_images_the_fine_tune_really_uses():
    assert DEFAULT_FIDELITY.describe() == (
        "1 epoch x 3500 images, then 2 fine-tune epochs x 3500 images after compression"
    )
    quick = DEFAULT_FIDELITY.with_budget(epochs=3, subset=2000)
    assert quick.finetune_images == 2000
    assert quick.describe().endswith("2 fine-tune epochs x 2000 images after compression")
    everything = Fidelity(subset=0, finetune_subset=0, finetune_epochs=1)
    assert everything.describe() == (
        "1 epoch x all images, then 1 fine-tune epoch x all images after compression"
    )
    assert Fidelity(finetune_epochs=0).describe() == "1 epoch x 3500 images"
