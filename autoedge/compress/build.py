"""Candidate -> a real timm EfficientNet, built from its block strings via `decode_arch_def`."""

from __future__ import annotations

import torch
from timm.layers import get_act_layer
from timm.models._efficientnet_builder import decode_arch_def
from timm.models.efficientnet import EfficientNet

from autoedge.space.candidate import Candidate


def exact_channels(channels: int | float, *_args: object, **_kwargs: object) -> int:
    """Channel 'rounding' that keeps the gene's width as is (timm rounds to 8 by default)."""
    return int(channels)


def build_model(candidate: Candidate, *, in_chans: int, num_classes: int) -> EfficientNet:
    """Build the candidate's network for `in_chans` input channels and `num_classes` outputs.

    Widths are used exactly as the genes say. The stem uses stage 0's activation and the head
    (conv_head + bn2) the last stage's, so every activation in the network is a gene.
    """
    block_args = decode_arch_def(candidate.block_strings())
    model = EfficientNet(
        block_args=block_args,
        num_classes=num_classes,
        num_features=candidate.head_width,
        in_chans=in_chans,
        stem_size=candidate.stem_width,
        fix_stem=True,
        act_layer=get_act_layer(candidate.stages[0].activation),
        round_chs_fn=exact_channels,
    )
    head_act = get_act_layer(candidate.stages[-1].activation)
    model.bn2.act = head_act(inplace=True)
    return model


def example_input(candidate: Candidate, in_chans: int, batch: int = 1) -> torch.Tensor:
    """A deterministic input of the candidate's resolution (for tracing, export and MACs)."""
    g = torch.Generator().manual_seed(0)
    r = candidate.resolution
    return torch.randn(batch, in_chans, r, r, generator=g)
