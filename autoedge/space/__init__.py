"""The joint search space: axes, spaces, candidates, block strings (stdlib + yaml only)."""

from __future__ import annotations

from autoedge.space.axes import Choice, FloatRange, GeneSource, IntRange
from autoedge.space.blockstr import BlockString, format_block_string, parse_block_string
from autoedge.space.candidate import BlockGenes, Candidate, StageGenes
from autoedge.space.loader import dump_space, load_space_file, load_space_text
from autoedge.space.registry import DEFAULT_SPACE, get_space, list_spaces
from autoedge.space.restrict import restrict_bits
from autoedge.space.sampling import (
    FixedGenes,
    RandomGenes,
    check_candidate,
    sample_candidate,
    sample_candidates,
)
from autoedge.space.spec import SearchSpace, StageSpace

__all__ = [
    "DEFAULT_SPACE",
    "BlockGenes",
    "BlockString",
    "Candidate",
    "Choice",
    "FixedGenes",
    "FloatRange",
    "GeneSource",
    "IntRange",
    "RandomGenes",
    "SearchSpace",
    "StageGenes",
    "StageSpace",
    "check_candidate",
    "dump_space",
    "format_block_string",
    "get_space",
    "list_spaces",
    "load_space_file",
    "load_space_text",
    "parse_block_string",
    "restrict_bits",
    "sample_candidate",
    "sample_candidates",
]
