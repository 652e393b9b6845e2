"""Draw candidates from a space, gene by gene, asking only for genes that exist.

`sample_candidate` is define-by-run: depth is drawn before the blocks, block type before
expansion, kd_alpha before the temperature. A GeneSource sees exactly the genes of the
candidate it builds, so an Optuna trial records no dead parameters.
"""

from __future__ import annotations

import random
from typing import Any

from autoedge.errors import CandidateError
from autoedge.space.axes import Axis, GeneSource, Value
from autoedge.space.candidate import Candidate, StageGenes, make_candidate, make_stage
from autoedge.space.spec import EXPANDING_BLOCKS, SearchSpace


class RandomGenes:
    """A GeneSource backed by a seeded `random.Random` (reproducible across machines)."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)

    def categorical(self, name: str, choices: tuple[Value, ...]) -> Value:
        return self.rng.choice(choices)

    def integer(self, name: str, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def real(self, name: str, low: float, high: float, step: float) -> float:
        return low + step * self.rng.randint(0, round((high - low) / step))


class FixedGenes:
    """A GeneSource that replays a flat gene dict (as from `Candidate.genes()`).

    Values read back from a table (a CSV turns 4 into 4.0 when a column has gaps) are mapped
    onto the axis' own values, so the rebuilt candidate has the original types and key.
    """

    def __init__(self, genes: dict[str, Any]) -> None:
        self.genes = genes

    def _get(self, name: str) -> Any:
        if name not in self.genes:
            raise CandidateError(f"gene {name!r} is missing")
        value = self.genes[name]
        return value.item() if hasattr(value, "item") else value  # numpy scalar -> Python

    def categorical(self, name: str, choices: tuple[Value, ...]) -> Value:
        value = self._get(name)
        for choice in choices:
            if type(choice) is type(value) and choice == value:
                return choice
        for choice in choices:
            if not isinstance(choice, str) and not isinstance(value, str) and choice == value:
                return choice
        return value  # not a choice: the candidate's own checks report it

    def integer(self, name: str, low: int, high: int) -> int:
        value = self._get(name)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    def real(self, name: str, low: float, high: float, step: float) -> float:
        value = self._get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


def sample_candidate(space: SearchSpace, source: GeneSource) -> Candidate:
    """Draw one candidate; gene names match `Candidate.genes()`."""
    resolution = space.resolution.sample(source, "resolution")
    stem_width = space.stem_width.sample(source, "stem_width")
    head_width = space.head_width.sample(source, "head_width")
    stages: list[StageGenes] = []
    for i, st in enumerate(space.stages):
        p = f"s{i}"
        block_type = st.block_type.sample(source, f"{p}.block_type")
        depth = st.depth.sample(source, f"{p}.depth")
        width = st.width.sample(source, f"{p}.width")
        activation = st.activation.sample(source, f"{p}.activation")
        blocks = []
        for j in range(depth):
            q = f"{p}.b{j}"
            kernel = st.kernel.sample(source, f"{q}.kernel")
            expansion = (
                st.expansion.sample(source, f"{q}.expansion")
                if block_type in EXPANDING_BLOCKS
                else None
            )
            se = st.se.sample(source, f"{q}.se")
            blocks.append((kernel, expansion, se))
        stages.append(
            make_stage(
                block_type=block_type,
                stride=st.stride,
                width=width,
                activation=activation,
                blocks=blocks,
                prune=st.prune.sample(source, f"{p}.prune"),
                weight_bits=st.weight_bits.sample(source, f"{p}.weight_bits"),
                act_bits=st.act_bits.sample(source, f"{p}.act_bits"),
                rank=st.rank.sample(source, f"{p}.rank"),
            )
        )
    kd_alpha = space.kd_alpha.sample(source, "kd_alpha")
    kd_temperature = space.kd_temperature.sample(source, "kd_temperature") if kd_alpha > 0 else None
    return make_candidate(
        resolution=resolution,
        stem_width=stem_width,
        head_width=head_width,
        stages=stages,
        kd_alpha=kd_alpha,
        kd_temperature=kd_temperature,
        space=space.name,
    )


def sample_candidates(space: SearchSpace, count: int, seed: int) -> list[Candidate]:
    """`count` candidates from one seeded stream (the same list for the same seed)."""
    source = RandomGenes(seed)
    return [sample_candidate(space, source) for _ in range(count)]


def check_candidate(candidate: Candidate, space: SearchSpace) -> None:
    """Raise CandidateError naming the first gene that the space does not allow."""
    if len(candidate.stages) != len(space.stages):
        raise CandidateError(
            f"candidate has {len(candidate.stages)} stages but space '{space.name}' has "
            f"{len(space.stages)}"
        )
    genes = candidate.genes()

    def need(name: str, axis: Axis) -> None:
        value = genes[name]
        if not axis.contains(value):
            raise CandidateError(
                f"candidate gene {name} = {value!r} is not in space '{space.name}' "
                f"(expected {axis.describe()})"
            )

    for name in ("resolution", "stem_width", "head_width", "kd_alpha"):
        need(name, space.axis(name))
    if candidate.kd_temperature is not None:
        need("kd_temperature", space.kd_temperature)
    for i, (sg, st) in enumerate(zip(candidate.stages, space.stages, strict=True)):
        p = f"s{i}"
        if sg.stride != st.stride:
            raise CandidateError(
                f"candidate gene {p}.stride = {sg.stride} but space '{space.name}' fixes it "
                f"at {st.stride}"
            )
        for a in (
            "block_type",
            "depth",
            "width",
            "activation",
            "prune",
            "weight_bits",
            "act_bits",
            "rank",
        ):
            need(f"{p}.{a}", st.axis(a))
        for j, b in enumerate(sg.blocks):
            need(f"{p}.b{j}.kernel", st.kernel)
            need(f"{p}.b{j}.se", st.se)
            if b.expansion is not None:
                need(f"{p}.b{j}.expansion", st.expansion)
