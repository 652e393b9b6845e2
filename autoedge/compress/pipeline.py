"""A candidate's compression genes applied in order: prune, factorize, fake-quantize.

The genes are per stage; the stem follows stage 0 and the head (conv_head, classifier) follows
the last stage, so every layer of the network has exactly one setting.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch
from torch import nn

from autoedge.compress.lowrank import FactorizedLayer, factorize_low_rank
from autoedge.compress.prune import prune_channels
from autoedge.compress.quant import QuantPlan, apply_fake_quant, freeze_quantized
from autoedge.space.candidate import Candidate
from autoedge.space.precision import trained_bits

HEAD_LAYERS = ("conv_head", "classifier")


@dataclass(frozen=True)
class CompressionPlan:
    """Per-layer settings by module-name prefix, derived from a candidate's genes. The bits are
    those the stage ships at (`trained_bits`): training simulates what is deployed."""

    prune: dict[str, float] = field(default_factory=dict)
    rank: dict[str, float] = field(default_factory=dict)
    bits: dict[str, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def from_candidate(cls, candidate: Candidate) -> CompressionPlan:
        stages = candidate.stages
        first, last = stages[0], stages[-1]
        prune = {f"blocks.{i}": s.prune for i, s in enumerate(stages)}
        rank = {f"blocks.{i}": s.rank for i, s in enumerate(stages)}
        bits = {
            f"blocks.{i}": trained_bits(s.weight_bits, s.act_bits) for i, s in enumerate(stages)
        }
        prune["conv_stem"] = first.prune
        bits["conv_stem"] = bits["blocks.0"]
        for head in HEAD_LAYERS:
            rank[head] = last.rank
            bits[head] = bits[f"blocks.{len(stages) - 1}"]
        return cls(prune=prune, rank=rank, bits=bits)


@dataclass(frozen=True)
class CompressedModel:
    """The fake-quantized (trainable) model and the records of what was done to it."""

    model: nn.Module
    quant_plan: QuantPlan
    factorized: tuple[FactorizedLayer, ...]
    resolution: int

    def frozen(self) -> nn.Module:
        """A plain float copy with quantized weight values, for fp32 ONNX export and MACs."""
        return freeze_quantized(self.model)

    def weight_bytes(self) -> int:
        """Bytes of all parameters: conv/linear weights at their bits (see QuantPlan), every
        other parameter (batch-norm affine) as fp32."""
        planned = sum(layer.weight_numel + layer.bias_numel for layer in self.quant_plan.layers)
        other = sum(p.numel() for p in self.model.parameters()) - planned
        return self.quant_plan.weight_bytes() + 4 * other

    @property
    def network_key(self) -> str:
        """Hash of the compressed network's structure and bits (not its weights).

        Two candidates whose genes differ but whose compressed networks are the same (say a
        pruning ratio that rounds to no removed channel) share this key.
        """
        return network_key(self.model, self.resolution)


def compress(
    model: nn.Module, candidate: Candidate, example_input: torch.Tensor, *, round_to: int = 8
) -> CompressedModel:
    """Prune, then factorize, then fake-quantize a copy of `model` per the candidate's genes."""
    plan = CompressionPlan.from_candidate(candidate)
    pruned = prune_channels(model, example_input, plan.prune, round_to=round_to)
    return compress_pruned(pruned, candidate)


def compress_pruned(pruned: nn.Module, candidate: Candidate) -> CompressedModel:
    """The steps after pruning: factorize, then fake-quantize (for callers that also need
    the pruned model on its own, e.g. to count it)."""
    plan = CompressionPlan.from_candidate(candidate)
    factorized, layers = factorize_low_rank(pruned, plan.rank)
    quantized, qplan = apply_fake_quant(factorized, plan.bits)
    return CompressedModel(
        model=quantized, quant_plan=qplan, factorized=layers, resolution=candidate.resolution
    )


def network_key(model: nn.Module, resolution: int) -> str:
    """Stable hash of a module tree's structure (types, shapes, strides, bits) and input size."""
    text = f"resolution={resolution}\n{model!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
