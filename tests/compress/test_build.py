"""The builder: every bundled space's candidates become real timm EfficientNets as the genes say."""

from __future__ import annotations

import pytest
import torch
from timm.models._efficientnet_blocks import (
    DepthwiseSeparableConv,
    EdgeResidual,
    InvertedResidual,
)
from timm.models.efficientnet import EfficientNet

from autoedge.compress.build import build_model, example_input
from autoedge.space import get_space, list_spaces, sample_candidates

BLOCK_CLASS = {"ds": DepthwiseSeparableConv, "ir": InvertedResidual, "er": EdgeResidual}
ACT_CLASS = {"relu": torch.nn.ReLU, "hard_swish": torch.nn.Hardswish}


@pytest.mark.parametrize("name", list_spaces())
def test_builder_follows_the_genes(name):
    space = get_space(name)
    for cand in sample_candidates(space, 3, seed=5):
        model = build_model(cand, in_chans=1, num_classes=7)
        assert isinstance(model, EfficientNet)
        assert model.conv_stem.in_channels == 1
        assert model.conv_stem.out_channels == cand.stem_width
        assert model.conv_head.out_channels == cand.head_width
        assert model.classifier.out_features == 7
        assert len(model.blocks) == len(cand.stages)
        for stage_genes, stage in zip(cand.stages, model.blocks, strict=True):
            assert len(stage) == stage_genes.depth
            for j, (genes, block) in enumerate(zip(stage_genes.blocks, stage, strict=True)):
                assert isinstance(block, BLOCK_CLASS[stage_genes.block_type])
                convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
                kernels = {m.kernel_size[0] for m in convs}
                assert genes.kernel in kernels
                last_out = [m for n, m in block.named_modules() if n in ("conv_pw", "conv_pwl")]
                assert last_out[-1].out_channels == stage_genes.width
                strides = {m.stride[0] for m in convs}
                assert max(strides) == (stage_genes.stride if j == 0 else 1)
                has_se = any(type(m).__name__ == "SqueezeExcite" for m in block.modules())
                assert has_se == (genes.se > 0)
                acts = {type(m) for m in block.modules()} & set(ACT_CLASS.values())
                assert ACT_CLASS[stage_genes.activation] in acts
        model.eval()
        x = example_input(cand, 1, batch=2)
        assert model(x).shape == (2, 7)


def test_expansion_sets_the_hidden_width():
    space = get_space("tiny")
    for cand in sample_candidates(space, 30, seed=2):
        model = build_model(cand, in_chans=3, num_classes=10)
        for sg, stage in zip(cand.stages, model.blocks, strict=True):
            if sg.block_type != "ir":
                continue
            in_ch = stage[0].conv_pw.in_channels
            assert stage[0].conv_pw.out_channels == int(in_ch * sg.blocks[0].expansion)
            return
    pytest.fail("no ir stage sampled")


def test_stem_and_head_activations_follow_first_and_last_stage():
    for cand in sample_candidates(get_space("mobilenetv3"), 10, seed=4):
        model = build_model(cand, in_chans=1, num_classes=10)
        assert isinstance(model.bn1.act, ACT_CLASS[cand.stages[0].activation])
        assert isinstance(model.bn2.act, ACT_CLASS[cand.stages[-1].activation])


def test_builder_trains():
    cand = sample_candidates(get_space("tiny"), 1, seed=0)[0]
    model = build_model(cand, in_chans=1, num_classes=10).train()
    x = example_input(cand, 1, batch=4)
    loss = model(x).logsumexp(1).mean()
    loss.backward()
    assert model.conv_stem.weight.grad is not None
    assert model.conv_stem.weight.grad.abs().sum() > 0
