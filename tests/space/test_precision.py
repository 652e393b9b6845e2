"""How a stage's bit-width genes map onto the precision it ships at."""

from __future__ import annotations

import pytest

from autoedge.errors import CandidateError
from autoedge.space.precision import (
    format_precision_map,
    parse_precision_map,
    precision_map,
    ships_as,
    stage_of_layer,
    stage_precision,
    trained_bits,
)


@pytest.mark.parametrize(
    ("bits", "precision", "trained"),
    [
        ((8, 8), "int8", (8, 8)),
        ((8, 32), "int8-weights", (8, 32)),
        ((8, 16), "int8-weights", (8, 32)),
        ((32, 8), "int8", (8, 8)),  # int8 kernels take int8 weights: trained as it ships
        ((16, 16), "fp16", (32, 32)),
        ((16, 32), "fp16", (32, 32)),
        ((32, 32), "fp32", (32, 32)),
    ],
)
def test_each_bit_pair_ships_at_one_precision_and_trains_as_it_ships(bits, precision, trained):
    assert stage_precision(*bits) == precision
    assert trained_bits(*bits) == trained


def test_bits_below_eight_have_no_runtime_but_are_still_simulated():
    with pytest.raises(CandidateError, match="below 8"):
        stage_precision(4, 8)
    assert trained_bits(4, 8) == (4, 8)


def test_ships_as_is_the_one_precision_or_mixed():
    assert ships_as(("int8", "int8")) == "int8"
    assert ships_as(("int8-weights",)) == "int8-weights"
    assert ships_as(("int8", "fp32", "int8-weights")) == "mixed"
    plan = precision_map([(8, 8), (32, 32), (8, 32)])
    assert plan == ("int8", "fp32", "int8-weights")
    assert parse_precision_map(format_precision_map(plan)) == plan
    with pytest.raises(CandidateError, match="int4"):
        parse_precision_map("int8|int4")


@pytest.mark.parametrize(
    ("name", "stage"),
    [
        ("/blocks/blocks.2/blocks.2.1/se/conv_expand/Conv", 2),
        ("blocks.0.0.conv_dw", 0),
        ("/conv_stem/Conv", 0),
        ("/bn1/act/HardSwish", 0),
        ("/conv_head/Conv", 4),
        ("/classifier/classifier.1/Gemm", 4),
        ("node_Conv_12", None),
    ],
)
def test_layers_map_to_stages_as_the_compression_plan_assigns_genes(name, stage):
    assert stage_of_layer(name, 5) == stage
