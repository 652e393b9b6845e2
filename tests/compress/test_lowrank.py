"""Low-rank SVD factorization of pointwise convs and linear layers on tiny real timm models."""

from __future__ import annotations

import copy
import itertools
import re

import pytest
import torch
from timm_models import tiny_efficientnet, tiny_mobilenet
from torch import nn

from autoedge.compress.lowrank import (
    FactorizedLayer,
    _factorize_layer,
    factorize_low_rank,
    reconstruction_error,
)
from autoedge.errors import CompressionError


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


X_GRAY = torch.randn(2, 1, 32, 32)
X_RGB = torch.randn(2, 3, 32, 32)


def test_reconstruction_error_falls_with_rank_to_zero() -> None:
    weight = torch.randn(12, 20, generator=torch.Generator().manual_seed(1))
    errors = [reconstruction_error(weight, r) for r in range(1, 13)]
    assert all(a > b for a, b in itertools.pairwise(errors))
    assert 0.0 < errors[0] < 1.0
    assert errors[-1] < 1e-10


def test_reconstruction_error_matches_the_factorized_layer() -> None:
    torch.manual_seed(2)
    layer = nn.Linear(5, 9)
    weight = layer.weight.detach()
    for r in range(1, 6):
        pair, error = _factorize_layer(layer, r)
        product = pair[1].weight @ pair[0].weight
        direct = torch.linalg.matrix_norm(weight - product) / torch.linalg.matrix_norm(weight)
        assert error == pytest.approx(direct.item(), abs=1e-6)
        assert reconstruction_error(weight, r) == pytest.approx(error, abs=1e-6)


def test_reconstruction_error_is_non_increasing_for_low_rank_weights() -> None:
    g = torch.Generator().manual_seed(4)
    weight = torch.randn(16, 3, generator=g) @ torch.randn(3, 16, generator=g)
    errors = [reconstruction_error(weight, r) for r in range(1, 17)]
    assert all(a >= b for a, b in itertools.pairwise(errors))
    assert errors[1] > 0.01
    assert errors[2] < 1e-7  # exact at the true rank, up to float64 round-off


@pytest.mark.parametrize(
    ("weight", "rank"),
    [(torch.ones(4, 6), 0), (torch.ones(4, 6), 5), (torch.ones(2, 3, 1, 1), 1)],
)
def test_reconstruction_error_rejects_bad_arguments(weight: torch.Tensor, rank: int) -> None:
    with pytest.raises(CompressionError):
        reconstruction_error(weight, rank)


def test_factorization_reduces_parameters_and_still_trains() -> None:
    model = tiny_mobilenet().train()
    factorized, layers = factorize_low_rank(model, {"": 0.25})

    assert n_params(factorized) < n_params(model)
    assert len(layers) > 10
    assert all(isinstance(layer, FactorizedLayer) for layer in layers)
    saved = sum(layer.params_before - layer.params_after for layer in layers)
    assert n_params(model) - n_params(factorized) == saved
    modules = dict(factorized.named_modules())
    for layer in layers:
        assert layer.params_after < layer.params_before
        assert layer.rank == max(1, int(0.25 * min(layer.in_features, layer.out_features) + 0.5))
        assert 0.0 < layer.relative_error < 1.0
        pair = modules[layer.name]
        assert isinstance(pair, nn.Sequential) and len(pair) == 2
        assert n_params(pair) == layer.params_after
    for name, module in factorized.named_modules():
        if isinstance(module, nn.Conv2d) and module.kernel_size != (1, 1):
            assert name.endswith(("conv_stem", "conv_dw")), name  # 3x3 and depthwise untouched

    assert factorized.training
    out = factorized(X_RGB)
    assert out.shape == (2, 10)
    out.logsumexp(dim=1).mean().backward()
    assert all(p.grad is not None for p in factorized.parameters())


def test_full_rank_factorization_reproduces_the_model() -> None:
    model = tiny_efficientnet().eval()
    full = copy.deepcopy(model)
    replaced = 0
    for name, module in list(full.named_modules()):
        is_pointwise = isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1)
        if (is_pointwise and module.groups == 1) or isinstance(module, nn.Linear):
            pair, error = _factorize_layer(module, min(module.weight.shape[:2]))
            assert error < 1e-6
            parent, _, child = name.rpartition(".")
            setattr(full.get_submodule(parent), child, pair)
            replaced += 1
    assert replaced > 10
    with torch.no_grad():
        torch.testing.assert_close(full(X_GRAY), model(X_GRAY), atol=1e-4, rtol=1e-4)


def test_strided_padded_pointwise_conv_keeps_its_geometry() -> None:
    torch.manual_seed(5)
    conv = nn.Conv2d(12, 20, kernel_size=1, stride=2, padding=1, bias=True)
    x = torch.randn(2, 12, 9, 9)
    pair, _ = _factorize_layer(conv, 12)
    assert pair[0].stride == (2, 2) and pair[0].bias is None
    assert pair[1].stride == (1, 1) and pair[1].bias is not None
    with torch.no_grad():
        torch.testing.assert_close(pair(x), conv(x), atol=1e-4, rtol=1e-4)
        low, error = _factorize_layer(conv, 4)
        assert low(x).shape == conv(x).shape
        assert error == pytest.approx(reconstruction_error(conv.weight[:, :, 0, 0], 4))


def test_layers_that_would_grow_are_left_untouched() -> None:
    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
    factorized, layers = factorize_low_rank(model, {"": 0.5})

    # Layer 0: r = 32 and 32 * (64 + 64) == 64 * 64, no saving. Layer 2: r = 2 of 4.
    assert type(factorized[0]) is nn.Linear
    assert torch.equal(factorized[0].weight, model[0].weight)
    assert isinstance(factorized[2], nn.Sequential)
    assert [layer.name for layer in layers] == ["2"]
    assert layers[0].rank == 2
    assert layers[0].params_before == 64 * 4 + 4
    assert layers[0].params_after == 2 * 64 + 4 * 2 + 4


def test_classifier_is_factorized_when_its_prefix_is_given() -> None:
    model = tiny_efficientnet().eval()
    factorized, layers = factorize_low_rank(model, {"classifier": 0.25})

    assert [layer.name for layer in layers] == ["classifier"]
    assert (layers[0].in_features, layers[0].out_features, layers[0].rank) == (64, 10, 3)
    assert isinstance(factorized.classifier, nn.Sequential)
    assert factorized.classifier[0].weight.shape == (3, 64)
    assert factorized.classifier[1].weight.shape == (10, 3)
    keys = set(factorized.state_dict())
    assert {"classifier.0.weight", "classifier.1.weight", "classifier.1.bias"} <= keys
    assert "classifier.0.bias" not in keys
    unchanged = set(model.state_dict()) - {"classifier.weight", "classifier.bias"}
    assert unchanged <= keys
    with torch.no_grad():
        assert factorized(X_GRAY).shape == (2, 10)


def test_per_prefix_ratios() -> None:
    model = tiny_efficientnet().eval()
    _, layers = factorize_low_rank(model, {"blocks.3": 0.25, "blocks.3.1": 1.0})
    names = [layer.name for layer in layers]
    assert names
    assert all(name.startswith("blocks.3.0.") for name in names)


def test_ratio_one_is_off_and_input_is_left_unchanged() -> None:
    model = tiny_mobilenet()
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}

    same, layers = factorize_low_rank(model, {"": 1.0})
    assert layers == ()
    assert same is not model
    assert same.state_dict().keys() == snapshot.keys()

    factorized, layers = factorize_low_rank(model, {"": 0.1})
    assert layers
    state = model.state_dict()
    assert state.keys() == snapshot.keys()
    for name, value in snapshot.items():
        assert torch.equal(state[name], value), name
    assert isinstance(model.classifier, nn.Linear)  # timm's Linear subclass
    assert isinstance(factorized.classifier, nn.Sequential)
    assert "classifier" in [layer.name for layer in layers]


@pytest.mark.parametrize(
    ("ratios", "message"),
    [
        ({"": 0.0}, "(0, 1]"),
        ({"": 1.5}, "(0, 1]"),
        ({"blocks.1": -0.5}, "(0, 1]"),
        ({"": float("nan")}, "(0, 1]"),
        ({"head": 0.5}, "head"),
    ],
)
def test_bad_ratios_raise_compression_error(ratios: dict[str, float], message: str) -> None:
    with pytest.raises(CompressionError, match=re.escape(message)):
        factorize_low_rank(tiny_efficientnet(), ratios)
