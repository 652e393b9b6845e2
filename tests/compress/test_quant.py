"""Tests for per-layer fake quantization (QAT) on real timm models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import timm
import torch
import torch.nn.functional as F
from timm.layers import Conv2dSame, StdConv2d
from timm.models._efficientnet_builder import decode_arch_def
from timm.models.efficientnet import EfficientNet
from torch import nn

from autoedge.compress.quant import (
    ActivationQuantizer,
    LayerBits,
    QuantConv2d,
    QuantLinear,
    QuantPlan,
    apply_fake_quant,
    fake_quantize_weight,
    freeze_quantized,
)
from autoedge.errors import CompressionError

QUANT_TYPES = (QuantConv2d, QuantLinear, ActivationQuantizer)


def mobilenet() -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=10)


def tiny_effnet(pad_type: str = "") -> nn.Module:
    torch.manual_seed(0)
    arch = decode_arch_def([["ds_r1_k3_s1_c16"], ["ir_r2_k3_s2_e4_c24_se0.25"]])
    return EfficientNet(
        block_args=arch,
        num_classes=10,
        in_chans=1,
        stem_size=16,
        num_features=64,
        pad_type=pad_type,
    )


def layer_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert not any(isinstance(m, QUANT_TYPES) for m in model.modules())


# --- fake_quantize_weight -------------------------------------------------------------------


def test_weight_error_shrinks_as_bits_grow() -> None:
    torch.manual_seed(1)
    w = torch.randn(16, 8, 3, 3)
    errors = [(fake_quantize_weight(w, b) - w).abs().mean().item() for b in (2, 4, 6, 8)]
    assert errors[0] > errors[1] > errors[2] > errors[3] > 0


def test_8bit_error_is_at_most_half_a_step_per_channel() -> None:
    torch.manual_seed(2)
    w = torch.randn(12, 5, 3, 3) * torch.linspace(0.01, 3.0, 12).view(-1, 1, 1, 1)
    scale = w.abs().amax(dim=(1, 2, 3)) / 127
    err = (fake_quantize_weight(w, 8) - w).abs().amax(dim=(1, 2, 3))
    assert torch.all(err <= scale / 2 + 1e-7)
    # A per-tensor scale would break the bound for the small-magnitude channels.
    assert err[0] < scale[-1] / 2 / 10


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 7, 8])
def test_distinct_values_per_channel_fit_the_bits(bits: int) -> None:
    torch.manual_seed(3)
    w = (torch.rand(4, 8192) * 2 - 1) * torch.tensor([[0.1], [1.0], [5.0], [40.0]])
    q = fake_quantize_weight(w, bits)
    for row, orig in zip(q, w, strict=True):
        # 8192 uniform samples fill every level of the symmetric grid, and no more.
        assert len(torch.unique(row)) == 2**bits - 1
        # The extreme value lands on the grid exactly, so the range is not shrunk.
        assert torch.isclose(row.abs().max(), orig.abs().max())


def test_all_zero_channel_stays_zero() -> None:
    w = torch.randn(3, 4)
    w[1] = 0.0
    q = fake_quantize_weight(w, 4)
    assert torch.isfinite(q).all()
    assert torch.equal(q[1], torch.zeros(4))


def test_weight_quantization_passes_gradients_straight_through() -> None:
    w = torch.randn(6, 3, requires_grad=True)
    fake_quantize_weight(w, 3).mul(torch.arange(18.0).view(6, 3)).sum().backward()
    assert w.grad is not None
    assert torch.equal(w.grad, torch.arange(18.0).view(6, 3))


@pytest.mark.parametrize("bits", [1, 9, 16, 32])
def test_fake_quantize_weight_rejects_non_quant_bits(bits: int) -> None:
    with pytest.raises(CompressionError, match="bits"):
        fake_quantize_weight(torch.randn(2, 2), bits)


# --- ActivationQuantizer --------------------------------------------------------------------


def test_observer_ema_updates_in_train_and_freezes_in_eval() -> None:
    aq = ActivationQuantizer(8)
    x = torch.randn(4, 8) * 3
    assert torch.equal(aq.eval()(x), x)  # nothing observed yet: identity
    assert not aq.observed

    aq.train()
    x1 = torch.linspace(-1.0, 3.0, 50)
    aq(x1)
    assert aq.min_val.item() == pytest.approx(-1.0)
    assert aq.max_val.item() == pytest.approx(3.0)
    aq(torch.linspace(-2.0, 5.0, 50))
    assert aq.min_val.item() == pytest.approx(0.9 * -1.0 + 0.1 * -2.0)
    assert aq.max_val.item() == pytest.approx(0.9 * 3.0 + 0.1 * 5.0)

    aq.eval()
    before = (aq.min_val.clone(), aq.max_val.clone())
    out = aq(torch.linspace(-50.0, 50.0, 1000))
    assert torch.equal(aq.min_val, before[0])
    assert torch.equal(aq.max_val, before[1])
    assert out.min().item() == pytest.approx(-1.1, abs=0.02)  # clamped to the observed range
    assert out.max().item() == pytest.approx(3.2, abs=0.02)


def test_activation_quantization_levels_and_error() -> None:
    aq = ActivationQuantizer(4).train()
    x = torch.linspace(-1.0, 2.0, 1000)
    out = aq(x)
    scale = 3.0 / 15
    assert len(torch.unique(out)) <= 16
    assert (out - x).abs().max().item() <= scale / 2 + 1e-6
    assert torch.any(out == 0)  # zero is exactly representable


def test_activation_quantizer_gradient_is_straight_through() -> None:
    aq = ActivationQuantizer(3).train()
    x = torch.randn(10, requires_grad=True)
    aq(x).sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad, torch.ones(10))


def test_observers_in_a_model_update_in_train_only() -> None:
    q, _ = apply_fake_quant(mobilenet(), {"": (8, 8)})
    observers = [m for m in q.modules() if isinstance(m, ActivationQuantizer)]
    assert len(observers) == len(layer_names(mobilenet()))
    q.eval()(torch.randn(2, 3, 32, 32))
    assert not any(o.observed for o in observers)
    q.train()(torch.randn(2, 3, 32, 32))
    assert all(o.observed for o in observers)
    before = [(o.min_val.clone(), o.max_val.clone()) for o in observers]
    q.eval()(torch.randn(2, 3, 32, 32) * 10)
    for o, (lo, hi) in zip(observers, before, strict=True):
        assert torch.equal(o.min_val, lo) and torch.equal(o.max_val, hi)
    q.train()(torch.randn(2, 3, 32, 32) * 10)
    assert not torch.equal(observers[0].max_val, before[0][1])


# --- apply_fake_quant -----------------------------------------------------------------------


def test_qat_step_on_timm_model_gives_weight_gradients() -> None:
    model = mobilenet()
    before = snapshot(model)
    q, _ = apply_fake_quant(model, {"": (4, 8)})
    q.train()
    opt = torch.optim.SGD(q.parameters(), lr=0.1)
    loss = F.cross_entropy(q(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    quant_layers = [m for m in q.modules() if isinstance(m, QuantConv2d | QuantLinear)]
    assert len(quant_layers) == len(layer_names(model))
    for layer in quant_layers:
        assert layer.weight.grad is not None
        assert layer.weight.grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(q.conv_stem.weight, before["conv_stem.weight"])
    assert_unchanged(model, before)


def test_float_bits_leave_outputs_identical() -> None:
    model = mobilenet().eval()
    x = torch.randn(2, 3, 32, 32)
    q, plan = apply_fake_quant(model, {"": (16, 32), "blocks.1": (32, 16), "classifier": (16, 16)})
    q.eval()
    assert torch.equal(q(x), model(x))
    assert not any(isinstance(m, QUANT_TYPES) for m in q.modules())
    assert {(lb.weight_bits, lb.act_bits) for lb in plan.layers} == {(16, 32), (32, 16), (16, 16)}


def test_float_weight_with_quantized_input_keeps_weight() -> None:
    model = mobilenet()
    q, _ = apply_fake_quant(model, {"conv_head": (32, 8)})
    head = q.conv_head
    assert isinstance(head, QuantConv2d)
    assert isinstance(head.act_quant, ActivationQuantizer)
    assert head.quantized_weight() is head.weight
    assert torch.equal(head.weight, model.conv_head.weight)


def test_plan_records_every_layer_with_prefix_bits() -> None:
    model = mobilenet()
    settings = {"": (8, 8), "blocks": (4, 8), "blocks.1": (6, 16), "classifier": (32, 32)}
    q, plan = apply_fake_quant(model, settings)
    names = layer_names(model)
    assert [lb.name for lb in plan.layers] == names

    def expected(name: str) -> tuple[int, int]:
        if name == "classifier":
            return (32, 32)
        if name.startswith("blocks.1."):
            return (6, 16)
        if name.startswith("blocks."):
            return (4, 8)
        return (8, 8)

    modules = dict(q.named_modules())
    originals = dict(model.named_modules())
    for lb in plan.layers:
        assert (lb.weight_bits, lb.act_bits) == expected(lb.name), lb.name
        orig = originals[lb.name]
        assert lb.kind == ("conv" if isinstance(orig, nn.Conv2d) else "linear")
        assert lb.weight_numel == orig.weight.numel()
        assert lb.out_channels == orig.weight.shape[0]
        assert lb.bias_numel == (0 if orig.bias is None else orig.bias.numel())
        new = modules[lb.name]
        if lb.name == "classifier":
            assert type(new) is type(orig)
        else:
            assert isinstance(new, QuantConv2d | QuantLinear)
            assert (new.weight_bits, new.act_bits) == expected(lb.name)
            want_act = ActivationQuantizer if lb.act_bits <= 8 else nn.Identity
            assert isinstance(new.act_quant, want_act)
    assert any(lb.kind == "linear" for lb in plan.layers)


def test_already_quantized_layers_keep_their_bits() -> None:
    q1, _ = apply_fake_quant(mobilenet(), {"conv_stem": (3, 5)})
    q2, plan = apply_fake_quant(q1, {"": (8, 8)})
    by_name = {lb.name: lb for lb in plan.layers}
    assert (by_name["conv_stem"].weight_bits, by_name["conv_stem"].act_bits) == (3, 5)
    assert (by_name["conv_head"].weight_bits, by_name["conv_head"].act_bits) == (8, 8)
    assert q2.conv_stem.weight_bits == 3
    assert len(plan.layers) == len(layer_names(mobilenet()))


def test_weight_bytes_at_8_bits_is_about_a_quarter_of_32() -> None:
    model = mobilenet()
    _, plan8 = apply_fake_quant(model, {"": (8, 8)})
    _, plan32 = apply_fake_quant(model, {"": (32, 32)})
    _, plan16 = apply_fake_quant(model, {"": (16, 32)})
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    numel = sum(m.weight.numel() for m in layers)
    bias = sum(0 if m.bias is None else m.bias.numel() for m in layers)
    chans = sum(m.weight.shape[0] for m in layers)
    assert plan32.weight_bytes() == numel * 4 + bias * 4
    assert plan16.weight_bytes() == numel * 2 + bias * 4
    assert plan8.weight_bytes() == numel + chans * 4 + bias * 4
    ratio = plan8.weight_bytes() / plan32.weight_bytes()
    assert 0.25 < ratio < 0.3


def test_weight_bytes_packs_fractional_bits_into_whole_bytes() -> None:
    plan = QuantPlan(
        layers=(
            LayerBits("a", "conv", 3, 8, weight_numel=16, out_channels=2, bias_numel=2),
            LayerBits("b", "linear", 16, 32, weight_numel=10, out_channels=5, bias_numel=0),
            LayerBits("c", "conv", 5, 8, weight_numel=3, out_channels=1, bias_numel=0),
        )
    )
    # 16 weights at 3 bits = 6 bytes; 3 weights at 5 bits = 15 bits -> 2 bytes
    assert plan.weight_bytes() == (6 + 2 * 4 + 2 * 4) + 10 * 2 + (2 + 1 * 4)
    assert isinstance(plan.weight_bytes(), int)


def test_plan_json_round_trip() -> None:
    _, plan = apply_fake_quant(mobilenet(), {"": (8, 8), "blocks.2": (3, 16)})
    data = json.loads(json.dumps(plan.to_json()))
    assert QuantPlan.from_json(data) == plan
    with pytest.raises(CompressionError, match="malformed"):
        QuantPlan.from_json({"layers": [{"name": "x"}]})
    bad = dict(data["layers"][0], weight_bits=9)
    with pytest.raises(CompressionError, match="weight bits"):
        QuantPlan.from_json({"layers": [bad]})


@pytest.mark.parametrize(
    ("bits", "default"),
    [
        ({"": (1, 8)}, (32, 32)),
        ({"blocks": (8, 9)}, (32, 32)),
        ({"conv_head": (12, 12)}, (32, 32)),
        ({}, (8, 1)),
        ({"": (8.0, 8)}, (32, 32)),
        ({"": (True, 8)}, (32, 32)),
        ({"": 8}, (32, 32)),
        ({"": (8, 8, 8)}, (32, 32)),
    ],
)
def test_bad_bits_raise_compression_error(
    bits: dict[str, object], default: tuple[int, int]
) -> None:
    with pytest.raises(CompressionError, match="bits"):
        apply_fake_quant(mobilenet(), bits, default=default)  # type: ignore[arg-type]


@pytest.mark.parametrize("bits", [1, 9, 12])
def test_bad_bits_in_modules_raise(bits: int) -> None:
    with pytest.raises(CompressionError):
        ActivationQuantizer(bits)
    with pytest.raises(CompressionError):
        QuantLinear.from_float(nn.Linear(3, 2), bits, 8)


def test_conv_geometry_is_preserved() -> None:
    torch.manual_seed(4)
    x = torch.randn(2, 8, 11, 11)
    convs = [
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8),  # depthwise
        nn.Conv2d(8, 4, 3, stride=1, padding=2, dilation=2, bias=False),
        nn.Conv2d(8, 6, (3, 5), stride=(2, 1), padding="valid", groups=2),
        nn.Conv2d(8, 4, 3, padding=1, padding_mode="reflect"),
        Conv2dSame(8, 4, 3, stride=2),
    ]
    for conv in convs:
        float_q = QuantConv2d.from_float(conv, 32, 32)
        assert torch.equal(float_q(x), conv(x))
        q = QuantConv2d.from_float(conv, 8, 32)
        assert q.weight is conv.weight  # shares the Parameter
        assert (q.stride, q.padding, q.dilation, q.groups) == (
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.groups,
        )
        ref = conv._conv_forward(x, fake_quantize_weight(conv.weight, 8), conv.bias)
        if isinstance(conv, Conv2dSame):
            ref = F.conv2d(
                F.pad(x, (1, 1, 1, 1)),  # TF "same": out 6 = ceil(11 / 2) needs 2 padded pixels
                fake_quantize_weight(conv.weight, 8),
                conv.bias,
                stride=2,
            )
        assert torch.allclose(q(x), ref, atol=1e-6)
        assert q(x).shape == conv(x).shape


def test_same_padded_timm_model_quantizes_and_freezes() -> None:
    model = tiny_effnet(pad_type="same").eval()
    assert any(isinstance(m, Conv2dSame) for m in model.modules())
    q, _ = apply_fake_quant(model, {"": (6, 32)})
    q.eval()
    frozen = freeze_quantized(q).eval()
    x = torch.randn(2, 1, 32, 32)
    assert torch.allclose(frozen(x), q(x), atol=1e-5)
    assert sum(type(m) is Conv2dSame for m in frozen.modules()) == sum(
        type(m) is Conv2dSame for m in model.modules()
    )


def test_subclass_with_custom_forward_is_refused_only_when_quantized() -> None:
    model = nn.Sequential(StdConv2d(3, 4, 3))
    with pytest.raises(CompressionError, match="overrides"):
        apply_fake_quant(model, {"": (8, 8)})
    q, plan = apply_fake_quant(model, {"": (16, 32)})
    assert type(q[0]) is StdConv2d
    assert [lb.name for lb in plan.layers] == ["0"]


def test_multihead_attention_projection_is_refused() -> None:
    model = nn.Sequential(nn.MultiheadAttention(8, 2))
    with pytest.raises(CompressionError, match="MultiheadAttention"):
        apply_fake_quant(model, {"": (8, 8)})


def test_shared_layer_is_quantized_once() -> None:
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    q, plan = apply_fake_quant(model, {"": (4, 8)})
    assert isinstance(q[0], QuantLinear)
    assert q[0] is q[2]
    assert [lb.name for lb in plan.layers] == ["0"]


# --- freeze_quantized -----------------------------------------------------------------------


def test_freeze_matches_fake_quant_output_when_activations_are_float() -> None:
    model = mobilenet()
    before = snapshot(model)
    q, plan = apply_fake_quant(model, {"": (4, 32), "blocks.2": (6, 16), "classifier": (8, 32)})
    q.train()(torch.randn(4, 3, 32, 32))  # move BN statistics; no observers exist here
    q.eval()
    q_before = snapshot(q)
    frozen = freeze_quantized(q).eval()
    x = torch.randn(3, 3, 32, 32)
    assert torch.allclose(frozen(x), q(x), atol=1e-5)
    assert not any(isinstance(m, QUANT_TYPES) for m in frozen.modules())
    assert_unchanged(model, before)
    after = q.state_dict()
    assert all(torch.equal(after[k], q_before[k]) for k in q_before)
    assert isinstance(q.conv_stem, QuantConv2d)  # the QAT model keeps its quant modules

    frozen_modules = dict(frozen.named_modules())
    for lb in plan.layers:
        layer = frozen_modules[lb.name]
        assert type(layer) in (nn.Conv2d, nn.Linear)
        for row in layer.weight.detach().reshape(lb.out_channels, -1):
            assert len(torch.unique(row)) <= 2**lb.weight_bits - 1


def test_freeze_drops_activation_quantizers() -> None:
    q, _ = apply_fake_quant(mobilenet(), {"": (8, 4)})
    q.train()(torch.randn(2, 3, 32, 32))
    frozen = freeze_quantized(q)
    assert not any(isinstance(m, QUANT_TYPES) for m in frozen.modules())
    assert torch.equal(frozen.conv_head.weight, q.conv_head.quantized_weight())
    assert not any("act_quant" in k for k in frozen.state_dict())


def test_frozen_model_exports_to_onnx_and_matches_onnxruntime(tmp_path: Path) -> None:
    model = tiny_effnet()
    q, _ = apply_fake_quant(model, {"": (4, 32), "conv_stem": (8, 16)})
    q.train()(torch.randn(4, 1, 32, 32))
    frozen = freeze_quantized(q).eval()
    x = torch.randn(2, 1, 32, 32)
    path = str(tmp_path / "frozen.onnx")
    # The default (torch.export-based, dynamo=True) exporter; it needs onnxscript, no network.
    torch.onnx.export(frozen, (x,), path, input_names=["x"], output_names=["logits"])
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        ref = frozen(x).numpy()
    assert out.shape == (2, 10)
    assert np.abs(out - ref).max() <= 1e-4
