"""Structured channel pruning with torch-pruning's DependencyGraph, scoped per module-name prefix.

Each Conv2d/Linear gets the ratio ``setting_for(name, ratios, 0.0)``. Channels that are tied
together (a conv and its BN, a depthwise conv and the conv feeding it, the SE gate, the
residual sum of a stage) form one dependency group and are removed together. A group is
pruned at the ratio of its earliest *producer*: the first layer in module order whose output
channels are the group's and that is not depthwise (a depthwise conv only passes channels
through). So a stage's output channels follow that stage's ratio even though the next
stage's depthwise conv shares them; a residual stream that starts at the stem follows the stem.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch_pruning as tp
from torch import nn

from autoedge.compress.layer_map import setting_for
from autoedge.errors import CompressionError

IMPORTANCES = ("l1", "l2")


@dataclass(frozen=True)
class PruneReport:
    """Parameter and MAC counts of a model before and after pruning."""

    params_before: int
    params_after: int
    macs_before: int
    macs_after: int


def prune_channels(
    model: nn.Module,
    example_input: torch.Tensor,
    ratios: Mapping[str, float],
    *,
    round_to: int = 8,
    importance: str = "l2",
) -> nn.Module:
    """Return a copy of `model` whose output channels are removed per prefix ratio.

    `ratios` maps a module-name prefix (``"blocks.2"``, ``""`` for all) to the fraction of
    output channels to remove, in [0, 1). The kept count of a layer with C channels is
    ``C * (1 - ratio)`` rounded to the nearest multiple of `round_to`, never below `round_to`
    and at least one `round_to` unit below C (see `_kept_channels`);
    groups narrower than 2 * `round_to` channels are not pruned. The classifier (timm's
    ``get_classifier()``, else the last nn.Linear) and the output channels of ``conv_head``
    are never pruned; ``conv_head``'s input channels follow the last stage. Channels are ranked
    by the group's `importance` (``"l1"`` or ``"l2"`` weight magnitude). The input model is
    left unchanged and the copy keeps its train/eval mode. A group torch-pruning refuses to
    prune (its check says the removal would break a shape) stays whole, and the copy records
    its first producer's name in ``pruning_skipped`` (a tuple, empty when every group was
    pruned as asked).
    """
    _check_arguments(ratios, round_to, importance)
    _check_prefixes(model, ratios)
    pruned = copy.deepcopy(model)
    was_training = pruned.training
    pruned.eval()
    try:
        shape_before = _output_shape(pruned, example_input)
        prunable = {
            name: module
            for name, module in pruned.named_modules()
            if isinstance(module, nn.Conv2d | nn.Linear)
        }
        ignored = _output_layers(pruned, prunable)
        conv_head = getattr(pruned, "conv_head", None)
        if isinstance(conv_head, nn.Module):
            ignored.append(conv_head)
        skipped = _prune_groups(
            pruned,
            example_input,
            ratios,
            ignored,
            round_to=round_to,
            p=1 if importance == "l1" else 2,
        )
        shape_after = _output_shape(pruned, example_input)
        if shape_after != shape_before:
            raise CompressionError(
                f"pruning changed the output shape from {tuple(shape_before)} to "
                f"{tuple(shape_after)}; give the output layer's prefix a ratio of 0"
            )
    finally:
        pruned.train(was_training)
    pruned.pruning_skipped = tuple(skipped)  # type: ignore[assignment]
    return pruned


def prune_report(before: nn.Module, after: nn.Module, example_input: torch.Tensor) -> PruneReport:
    """Count parameters and MACs of two models on `example_input` (neither is modified)."""
    macs_before, params_before = tp.utils.count_ops_and_params(before, (example_input,))
    macs_after, params_after = tp.utils.count_ops_and_params(after, (example_input,))
    return PruneReport(
        params_before=int(params_before),
        params_after=int(params_after),
        macs_before=int(macs_before),
        macs_after=int(macs_after),
    )


def _check_arguments(ratios: Mapping[str, float], round_to: int, importance: str) -> None:
    if isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1:
        raise CompressionError(f"round_to must be an integer >= 1, got {round_to!r}")
    if importance not in IMPORTANCES:
        raise CompressionError(
            f"unknown importance {importance!r}; use one of {', '.join(IMPORTANCES)}"
        )
    for prefix, ratio in ratios.items():
        if not isinstance(prefix, str):
            raise CompressionError(
                f"pruning ratio keys must be module-name prefixes, got {prefix!r}"
            )
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0.0 <= ratio < 1.0:
            raise CompressionError(
                f"pruning ratio for {prefix!r} must be a number in [0, 1), got {ratio!r}"
            )


def _check_prefixes(model: nn.Module, settings: Mapping[str, object]) -> None:
    names = [name for name, _ in model.named_modules()]
    unknown = [
        prefix
        for prefix in settings
        if prefix and not any(n == prefix or n.startswith(prefix + ".") for n in names)
    ]
    if unknown:
        raise CompressionError(
            f"no module of the model is named or starts with {', '.join(map(repr, unknown))}; "
            "use qualified module names such as 'blocks.2' or 'conv_head'"
        )


def _output_shape(model: nn.Module, example_input: torch.Tensor) -> torch.Size:
    if not isinstance(example_input, torch.Tensor):
        raise CompressionError(
            f"example_input must be a torch.Tensor, got {type(example_input).__name__}"
        )
    try:
        with torch.no_grad():
            out = model(example_input)
    except (RuntimeError, ValueError) as exc:
        raise CompressionError(
            f"the model cannot run on example_input of shape {tuple(example_input.shape)}: "
            f"{exc}; pass an input the model accepts, e.g. shape (1, C, H, W)"
        ) from exc
    if not isinstance(out, torch.Tensor):
        raise CompressionError(
            f"the model must return a single tensor to be pruned, got {type(out).__name__}"
        )
    return out.shape


def _output_layers(model: nn.Module, prunable: Mapping[str, nn.Module]) -> list[nn.Module]:
    """The layers whose output channels are the model's outputs."""
    get_classifier = getattr(model, "get_classifier", None)
    if callable(get_classifier):
        classifier = get_classifier()
        if isinstance(classifier, nn.Module) and any(
            isinstance(m, nn.Conv2d | nn.Linear) for m in classifier.modules()
        ):
            return [classifier]
    for kind in (nn.Linear, nn.Conv2d):
        layers = [m for m in prunable.values() if isinstance(m, kind)]
        if layers:
            return [layers[-1]]
    return []


def _prune_groups(
    model: nn.Module,
    example_input: torch.Tensor,
    ratios: Mapping[str, float],
    ignored: list[nn.Module],
    *,
    round_to: int,
    p: int,
) -> list[str]:
    """Prune every dependency group in place at its earliest producer's ratio; the producers
    of the groups torch-pruning refused to prune."""
    skipped: list[str] = []
    if not any(ratio > 0.0 for ratio in ratios.values()):
        return skipped
    names = {module: name for name, module in model.named_modules()}
    order = {module: i for i, module in enumerate(names)}
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=(example_input,))
    importance = tp.importance.GroupMagnitudeImportance(p=p)
    for group in graph.get_all_groups(
        ignored_layers=ignored, root_module_types=[nn.Conv2d, nn.Linear]
    ):
        producers = [
            dep.target.module
            for dep, _ in group
            if graph.is_out_channel_pruning_fn(dep.handler)
            and isinstance(dep.target.module, nn.Conv2d | nn.Linear)
            and not _is_depthwise(dep.target.module)
        ]
        if not producers:
            continue
        first = min(producers, key=lambda m: order.get(m, len(order)))
        channels = len(group[0].idxs)
        keep = _kept_channels(setting_for(names[first], ratios, 0.0), channels, round_to)
        n_prune = channels - keep
        if n_prune <= 0:
            continue
        scores = importance(group)
        idxs = torch.argsort(scores)[:n_prune].tolist()
        root = group[0].dep
        to_prune = graph.get_pruning_group(root.target.module, root.handler, idxs)
        if graph.check_pruning_group(to_prune):
            to_prune.prune()
        else:  # torch-pruning refuses it (it would break a shape): the gene is not applied
            skipped.append(names[first])
    return skipped


def _is_depthwise(module: nn.Module) -> bool:
    return (
        isinstance(module, nn.Conv2d)
        and module.groups > 1
        and (module.groups == module.in_channels)
    )


def _kept_channels(ratio: float, channels: int, round_to: int) -> int:
    """How many of `channels` survive `ratio`.

    The kept count is the nearest multiple of `round_to`, never below `round_to`. A ratio
    above 0 always removes at least one `round_to` unit when the group is wide enough, so the
    gene is never a silent no-op (16 channels at ratio 0.25 keep 8, not 16). Groups narrower
    than 2 * `round_to` are left whole. (torch-pruning's own `round_to` rounds down, can reach
    0 and then silently skips the group, so we decide the count here.)
    """
    if ratio <= 0.0 or channels < 2 * round_to:
        return channels
    keep = math.floor(channels * (1.0 - ratio) / round_to + 0.5) * round_to
    return min(channels - round_to, max(keep, round_to))
