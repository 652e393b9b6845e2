"""The pieces of an export: documented preprocessing, atomic folders, quantization drift."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from autoedge.compress.build import build_model
from autoedge.compress.export import export_onnx
from autoedge.compress.int8_onnx import quantize_int8
from autoedge.compress.training import images_to_tensor
from autoedge.data import get_dataset
from autoedge.deploy import InputSpec, prepare_images
from autoedge.deploy.diagnose import most_sensitive, quantization_drift
from autoedge.deploy.staging import staged_folder
from autoedge.errors import ExportError
from autoedge.space import FixedGenes, get_space, sample_candidate, sample_candidates


@pytest.mark.parametrize(("name", "resolution"), [("digits", 32), ("digits", 6)])
def test_card_preprocessing_matches_what_training_fed_the_network(name, resolution) -> None:
    data = get_dataset(name)
    mean, std = data.normalization
    images = data.test_x[:64]
    spec = InputSpec("input", resolution, data.in_chans, mean, std)
    ours = prepare_images(images, spec)
    trained = images_to_tensor(images, resolution, mean, std).contiguous().numpy()
    assert ours.shape == trained.shape == (64, 1, resolution, resolution)
    assert np.abs(ours - trained).max() < 1e-4


def test_candidate_rebuilt_from_table_typed_genes_keeps_its_key() -> None:
    space = get_space("tiny")
    for cand in sample_candidates(space, 5, 3):
        as_read = {  # what a CSV with gaps gives back: ints as floats, numpy scalars
            k: np.float64(v) if isinstance(v, int | float) else v for k, v in cand.genes().items()
        }
        assert sample_candidate(space, FixedGenes(as_read)).key == cand.key


def test_staged_folder_publishes_whole_or_not_at_all(tmp_path) -> None:
    dest = tmp_path / "out"
    with pytest.raises(RuntimeError), staged_folder(dest) as stage:
        (stage / "half.onnx").write_text("x")
        raise RuntimeError("killed mid-way")
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    with staged_folder(dest) as stage:
        (stage / "model.onnx").write_text("v1")
    assert (dest / "model.onnx").read_text() == "v1"
    with pytest.raises(ExportError, match="not empty"), staged_folder(dest):
        pass
    with staged_folder(dest, force=True) as stage:
        (stage / "model.onnx").write_text("v2")
    assert [p.name for p in dest.iterdir()] == ["model.onnx"]
    assert (dest / "model.onnx").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staging_left_by_a_dead_export_is_cleaned_up(tmp_path) -> None:
    script = "import os; print(os.getpid())"
    dead = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    stale = tmp_path / f".out.partial-{int(dead.stdout)}"
    stale.mkdir()
    (stale / "model.onnx").write_text("half")
    alive = tmp_path / f".out.partial-{os.getppid()}"  # a running process: left alone
    alive.mkdir()
    with staged_folder(tmp_path / "out") as stage:
        (stage / "a").write_text("a")
    assert not stale.exists() and alive.exists()


def test_quantization_drift_names_layers_of_both_exports(tmp_path) -> None:
    cand = sample_candidates(get_space("tiny"), 1, 0)[0]
    torch.manual_seed(0)
    model = build_model(cand, in_chans=1, num_classes=10).eval()
    x = torch.randn(16, 1, 32, 32)
    fp32 = export_onnx(model, x[:2], tmp_path / "fp32.onnx")
    int8 = quantize_int8(fp32, tmp_path / "int8.onnx", x.numpy())
    drift = quantization_drift(fp32, int8, x.numpy())
    assert len(drift) >= 4  # stem, blocks, head, classifier
    assert all(np.isfinite(e) and e >= 0 for _, e in drift)
    assert any(e > 0 for _, e in drift)  # int8 changes something
    worst = most_sensitive(drift)
    assert worst is not None and worst[0] in {name for name, _ in drift}
    assert most_sensitive([]) is None
