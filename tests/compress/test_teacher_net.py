"""Teacher networks and their safetensors files: rebuilt from metadata, pickles refused."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from autoedge.compress.teacher_net import (
    TeacherCNN,
    TeacherMeta,
    build_teacher,
    load_teacher,
    save_teacher,
    teacher_logits,
)
from autoedge.errors import TeacherError

META = TeacherMeta("autoedge-cnn-w8", 1, 10, 8, (0.3,), (0.2,))


def _images(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)


def test_builtin_and_timm_archs():
    assert isinstance(build_teacher("autoedge-cnn-w8", in_chans=1, num_classes=4), TeacherCNN)
    timm_model = build_teacher("resnet10t", in_chans=3, num_classes=7).eval()
    assert timm_model(torch.zeros(1, 3, 32, 32)).shape == (1, 7)
    for bad in ("autoedge-cnn-wx", "not-a-model"):
        with pytest.raises(TeacherError, match="teacher arch"):
            build_teacher(bad, in_chans=1, num_classes=2)


def test_save_load_round_trip_keeps_logits(tmp_path):
    torch.manual_seed(0)
    model = build_teacher(META.arch, in_chans=1, num_classes=10).eval()
    path = save_teacher(model, META, tmp_path / "t.safetensors")
    loaded, meta = load_teacher(path)
    assert meta == META
    imgs = _images()
    assert np.allclose(teacher_logits(model, META, imgs), teacher_logits(loaded, meta, imgs))


def test_timm_teacher_named_in_metadata(tmp_path):
    model = build_teacher("resnet10t", in_chans=1, num_classes=10).eval()
    path = tmp_path / "r.safetensors"
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(path),
        metadata={"arch": "resnet10t", "in_chans": "1", "num_classes": "10"},
    )
    _loaded, meta = load_teacher(path)
    assert meta.arch == "resnet10t" and meta.mean == () and meta.input_size == 0


def test_metadata_and_weights_must_fit(tmp_path):
    model = build_teacher(META.arch, in_chans=1, num_classes=10)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    bare = tmp_path / "bare.safetensors"
    save_file(state, str(bare))
    with pytest.raises(TeacherError, match="metadata lacks arch"):
        load_teacher(bare)
    wrong = tmp_path / "wrong.safetensors"
    save_file(state, str(wrong), metadata={**META.to_metadata(), "num_classes": "3"})
    with pytest.raises(TeacherError, match="weights do not fit"):
        load_teacher(wrong)


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_a_planted_pickle_is_refused_without_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "teacher.safetensors"
    evil.write_bytes(pickle.dumps({"state_dict": _Boom()}))
    with pytest.raises(TeacherError, match="cannot read it as safetensors"):
        load_teacher(evil)
    assert not (tmp_path / "PWNED").exists()


def test_logits_check_channels():
    model = build_teacher(META.arch, in_chans=1, num_classes=10)
    with pytest.raises(TeacherError, match="1-channel"):
        teacher_logits(model, META, np.zeros((2, 8, 8, 3), dtype=np.uint8))
