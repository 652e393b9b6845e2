"""Structured channel pruning on tiny real timm models."""

from __future__ import annotations

import re

import pytest
import torch
from timm.models._efficientnet_builder import decode_arch_def
from timm.models.efficientnet import EfficientNet
from timm_models import tiny_efficientnet, tiny_mobilenet
from torch import nn

from autoedge.compress.prune import PruneReport, prune_channels, prune_report
from autoedge.errors import CompressionError


def conv_widths(model: nn.Module) -> dict[str, tuple[int, int]]:
    """(out, in/groups) of every conv and linear weight, by module name."""
    return {
        name: tuple(module.weight.shape[:2])
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d | nn.Linear)
    }


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


X_GRAY = torch.randn(2, 1, 32, 32)
X_RGB = torch.randn(2, 3, 32, 32)


def test_pruning_removes_channels_and_keeps_output_shape() -> None:
    model = tiny_efficientnet().eval()
    pruned = prune_channels(model, X_GRAY, {"": 0.5})

    report = prune_report(model, pruned, X_GRAY)
    assert isinstance(report, PruneReport)
    assert report.params_before == n_params(model)
    assert report.params_after == n_params(pruned)
    assert report.params_after < 0.8 * report.params_before
    assert report.macs_after < 0.8 * report.macs_before
    with torch.no_grad():
        out = pruned(X_GRAY)
    assert out.shape == model(X_GRAY).shape == (2, 10)
    assert torch.isfinite(out).all()
    assert pruned.pruning_skipped == ()  # every group was pruned as asked


def test_pruned_model_trains_and_keeps_train_mode() -> None:
    model = tiny_mobilenet().train()
    pruned = prune_channels(model, X_RGB, {"blocks": 0.5})
    assert pruned.training
    loss = pruned(X_RGB).logsumexp(dim=1).mean()
    loss.backward()
    grads = [p.grad for p in pruned.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_classifier_and_conv_head_outputs_are_not_pruned() -> None:
    model = tiny_mobilenet().eval()
    pruned = prune_channels(model, X_RGB, {"": 0.5})
    before, after = conv_widths(model), conv_widths(pruned)

    assert after["classifier"] == before["classifier"] == (10, 1024)
    assert after["conv_head"][0] == before["conv_head"][0] == 1024
    assert after["conv_head"][1] < before["conv_head"][1]  # input follows the last stage
    assert after["conv_stem"][0] < before["conv_stem"][0]


def test_last_linear_is_protected_in_plain_models() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 32, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 24),
        nn.ReLU(),
        nn.Linear(24, 5),
    ).eval()
    pruned = prune_channels(model, X_RGB, {"": 0.5}, round_to=1)
    assert pruned[0].out_channels == 16
    assert pruned[7].out_features == 12
    assert pruned[9].out_features == 5
    assert pruned(X_RGB).shape == (2, 5)


def test_zero_ratios_keep_every_parameter() -> None:
    model = tiny_efficientnet().eval()
    for ratios in ({}, {"": 0.0}, {"blocks.1": 0.0, "conv_stem": 0.0}):
        pruned = prune_channels(model, X_GRAY, ratios)
        assert n_params(pruned) == n_params(model)
        for (name, a), (_, b) in zip(
            model.state_dict().items(), pruned.state_dict().items(), strict=True
        ):
            assert torch.equal(a, b), name


def test_input_model_is_left_unchanged() -> None:
    model = tiny_mobilenet().train()
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    widths = conv_widths(model)

    pruned = prune_channels(model, X_RGB, {"": 0.5})

    assert pruned is not model
    assert model.training
    assert conv_widths(model) == widths
    state = model.state_dict()
    assert state.keys() == snapshot.keys()
    for name, value in snapshot.items():
        assert torch.equal(state[name], value), name


def test_channel_counts_stay_multiples_of_round_to() -> None:
    model = tiny_efficientnet().eval()
    ratios = {"": 0.3, "blocks.1": 0.6, "blocks.3": 0.45, "conv_stem": 0.5}
    pruned = prune_channels(model, X_GRAY, ratios, round_to=8)
    before, after = conv_widths(model), conv_widths(pruned)

    changed = [name for name in before if before[name][0] != after[name][0]]
    assert len(changed) >= 8
    for name, (out_before, _) in before.items():
        out_after = after[name][0]
        assert 0 < out_after <= out_before, name
        if out_before % 8 == 0:
            assert out_after % 8 == 0, (name, out_before, out_after)
    assert pruned(X_GRAY).shape == (2, 10)


def test_high_ratio_keeps_at_least_round_to_channels() -> None:
    # torch-pruning alone would round 16 * 0.1 = 1 kept channel down to 0 and skip the layer.
    model = tiny_efficientnet().eval()
    pruned = prune_channels(model, X_GRAY, {"": 0.9}, round_to=8)
    before, after = conv_widths(model), conv_widths(pruned)

    assert after["conv_stem"][0] == 8
    assert after["blocks.1.0.conv_pw"][0] == 8
    for name, (out_before, _) in before.items():
        assert after[name][0] >= min(8, out_before), name
    assert after["blocks.0.0.se.conv_reduce"][0] == before["blocks.0.0.se.conv_reduce"][0] == 4
    assert pruned(X_GRAY).shape == (2, 10)


def test_kept_count_rounds_to_nearest_multiple() -> None:
    model = tiny_efficientnet().eval()
    after = conv_widths(prune_channels(model, X_GRAY, {"blocks.3": 0.5}, round_to=8))
    assert after["blocks.3.0.conv_pw"][0] == 64  # 128 * 0.5
    assert after["blocks.3.0.conv_pwl"][0] == 24  # 40 * 0.5 = 20 -> nearest multiple of 8
    after = conv_widths(prune_channels(model, X_GRAY, {"blocks.3": 0.5}, round_to=1))
    assert after["blocks.3.0.conv_pwl"][0] == 20


def test_each_stage_is_pruned_at_its_own_ratio() -> None:
    model = tiny_efficientnet().eval()
    pruned = prune_channels(model, X_GRAY, {"blocks.3": 0.5, "blocks.1": 0.25}, round_to=8)
    before, after = conv_widths(model), conv_widths(pruned)

    assert after["blocks.3.1.conv_pw"][0] == 80  # 160 * 0.5
    assert after["blocks.1.1.conv_pw"][0] == 72  # 96 * 0.75
    assert after["blocks.2.0.conv_exp"][0] == before["blocks.2.0.conv_exp"][0]
    assert after["conv_stem"] == before["conv_stem"]
    assert after["blocks.2.0.conv_exp"][1] < before["blocks.2.0.conv_exp"][1]
    assert after["conv_head"][1] < before["conv_head"][1]


def test_stage_output_follows_its_producer_not_the_next_depthwise_conv() -> None:
    # blocks.0 (ds, 8 -> 16) feeds blocks.1's depthwise conv, which shares its channels; the
    # group is pruned at blocks.0's ratio, the stage that produces the channels.
    torch.manual_seed(0)
    arch = [["ds_r1_k3_s1_c16"], ["ds_r1_k3_s2_c16"]]
    model = EfficientNet(
        block_args=decode_arch_def(arch),
        num_classes=10,
        in_chans=1,
        stem_size=8,
        num_features=32,
        round_chs_fn=lambda c, *a, **k: int(c),
    ).eval()
    after = conv_widths(prune_channels(model, X_GRAY, {"blocks.0": 0.5}))
    assert after["blocks.0.0.conv_pw"][0] == 8
    assert after["blocks.1.0.conv_dw"][0] == 8
    assert after["blocks.1.0.conv_pw"][0] == 16
    after = conv_widths(prune_channels(model, X_GRAY, {"blocks.1": 0.5}))
    assert after["blocks.0.0.conv_pw"][0] == 16
    assert after["blocks.1.0.conv_pw"][0] == 8


def test_group_spanning_stages_uses_its_earliest_producer_ratio() -> None:
    # The stem output is tied to blocks.0's residual; the stem is the earliest producer.
    model = tiny_efficientnet().eval()
    before = conv_widths(model)
    after = conv_widths(prune_channels(model, X_GRAY, {"blocks.0": 0.5}))
    assert after == before
    after = conv_widths(prune_channels(model, X_GRAY, {"conv_stem": 0.5}))
    assert after["conv_stem"][0] == after["blocks.0.0.conv_pw"][0] == 8


@pytest.mark.parametrize("importance", ["l1", "l2"])
def test_least_important_channels_are_removed(importance: str) -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 8, 1, bias=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    ).eval()
    with torch.no_grad():
        scale = torch.arange(1.0, 17.0)
        model[0].weight.copy_(scale[:, None, None, None] * torch.ones(16, 3, 3, 3))
        model[3].weight.fill_(1.0)
    order = torch.randperm(16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        model[0].weight.copy_(model[0].weight[order])

    pruned = prune_channels(model, X_RGB, {"0": 0.5}, round_to=1, importance=importance)

    kept = pruned[0].weight[:, 0, 0, 0]
    assert sorted(kept.tolist()) == list(range(9, 17))


@pytest.mark.parametrize(
    ("ratios", "kwargs", "message"),
    [
        ({"": 1.0}, {}, "[0, 1)"),
        ({"blocks.1": -0.1}, {}, "[0, 1)"),
        ({"": float("nan")}, {}, "[0, 1)"),
        ({"": "0.5"}, {}, "[0, 1)"),
        ({"": 0.5}, {"round_to": 0}, "round_to"),
        ({"": 0.5}, {"importance": "l3"}, "importance"),
        ({"blocks.9": 0.5}, {}, "blocks.9"),
        ({"block": 0.5}, {}, "block"),
    ],
)
def test_bad_settings_raise_compression_error(
    ratios: dict[str, object], kwargs: dict[str, object], message: str
) -> None:
    model = tiny_efficientnet()
    with pytest.raises(CompressionError, match=re.escape(message)):
        prune_channels(model, X_GRAY, ratios, **kwargs)  # type: ignore[arg-type]


def test_wrong_example_input_raises_compression_error() -> None:
    model = tiny_efficientnet()
    with pytest.raises(CompressionError, match="example_input"):
        prune_channels(model, X_RGB, {"": 0.5})
