"""A plan's fills run on a piece of their tensor: weightinit's elementwise initializers give each
piece (rows, columns, bfloat16) exactly the elements of the whole, drawn from the streams, with
their distribution; the fills that need the whole matrix (orthogonal, sparse, an embedding's
padding row) are found by what they do and drawn whole, and still come out right. Device: CPU."""

import math

import pytest
import torch
from scipy import stats

import weightinit as wi
from weightinit import init
from weightinit.scale import streamed_fill

FILLS = {
    "uniform": (lambda t, g: init.uniform_(t, -0.1, 0.1, g), "streams"),
    "normal": (lambda t, g: init.normal_(t, 0.0, 0.02, g), "streams"),
    "trunc_normal (rejection)": (lambda t, g: init.trunc_normal_(t, 0.0, 0.02, -0.04, 0.04, g), "streams"),
    "trunc_normal (inverse CDF)": (lambda t, g: init.trunc_normal_(t, 0.0, 1.0, 2.5, 4.0, g), "streams"),
    "variance_scaling": (lambda t, g: init.variance_scaling_(t, 2.0, "fan_in", "truncated_normal", g, fan_in=9,
                                                             fan_out=13), "streams"),
    "constant": (lambda t, g: init.constant_(t, 0.5), "deterministic"),
    "orthogonal": (lambda t, g: init.orthogonal_(t, 1.0, g), "whole"),
    "sparse": (lambda t, g: init.sparse_(t, 0.5, generator=g), "whole"),
}
SHAPE = (13, 9)
BOXES = [[(0, 4), (0, 9)], [(4, 13), (0, 9)], [(12, 13), (0, 9)], [(0, 13), (2, 5)], [(3, 8), (4, 9)]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", FILLS)
def test_each_piece_gets_the_elements_of_the_whole(name, dtype):
    fill, kind = FILLS[name]
    whole = torch.empty(SHAPE, dtype=dtype)
    assert streamed_fill(fill, whole, 3, SHAPE, block_size=16).kind == kind
    for box in BOXES:
        piece = torch.empty([b - a for a, b in box], dtype=dtype)
        streamed_fill(fill, piece, 3, SHAPE, box, block_size=16)
        assert torch.equal(piece, whole[tuple(slice(a, b) for a, b in box)]), box
    other = torch.empty(SHAPE, dtype=dtype)
    streamed_fill(fill, other, 4, SHAPE, block_size=16)
    assert torch.equal(other, whole) == (kind == "deterministic")  # another seed, other draws


def test_streamed_draws_have_the_fills_distribution():
    n = (60, 50)
    w = torch.empty(n)
    streamed_fill(FILLS["trunc_normal (rejection)"][0], w, 0, n, block_size=256)
    assert float(w.min()) >= -0.04 and float(w.max()) <= 0.04
    cdf = stats.truncnorm(-2, 2, scale=0.02).cdf
    assert stats.kstest(w.reshape(-1).numpy(), cdf).pvalue > 1e-4
    streamed_fill(FILLS["uniform"][0], w, 0, n, block_size=256)
    assert stats.kstest(w.reshape(-1).numpy(), stats.uniform(-0.1, 0.2).cdf).pvalue > 1e-4
    streamed_fill(FILLS["variance_scaling"][0], w, 0, n, block_size=256)
    assert float(w.std()) == pytest.approx(math.sqrt(2 / 9), rel=0.05)


def test_whole_matrix_fills_say_why_and_stay_orthogonal():
    w = torch.empty(8, 20)
    result = streamed_fill(FILLS["orthogonal"][0], w, 1, (24, 20), [(16, 24), (0, 20)])
    assert result.kind == "whole" and result.reason  # the operation that needs the whole matrix
    whole = torch.empty(24, 20)
    streamed_fill(FILLS["orthogonal"][0], whole, 1, (24, 20))
    assert torch.equal(w, whole[16:])
    assert torch.allclose(whole.T @ whole, torch.eye(20), atol=1e-5)  # 24 x 20: orthonormal columns


def test_embedding_padding_row_is_whole_and_zero():
    def padded(t, g):  # the embedding rule's fill: a draw, then row 2 zeroed (an index into rows)
        init.normal_(t, 0.0, 1.0, g)
        t[2].zero_()
    piece = torch.empty(3, 4)
    result = streamed_fill(padded, piece, 0, (6, 4), [(1, 4), (0, 4)])
    assert result.kind == "whole"
    assert torch.equal(piece[1], torch.zeros(4)) and bool((piece[0] != 0).all())


def test_an_empty_piece_draws_nothing():
    assert streamed_fill(FILLS["normal"][0], torch.empty(0, 9), 0, SHAPE, [(13, 13), (0, 9)]).kind == "deterministic"


@pytest.mark.parametrize("scheme", [s for s, v in wi.SCHEMES.items() if not v.needs_data])
def test_no_schemes_fill_reads_its_shape_off_the_piece(scheme):
    """A fill that took its fan from the tensor it is given would draw a column shard with the
    shard's fan: every scheme's fill, on every box, gives the whole block's elements."""
    model = wi.mlp("12-20-6", activation="tanh")
    for block in wi.plan_init(model, scheme).blocks:
        shape = tuple(getattr(dict(model.named_modules())[block.module], block.parameter).shape)
        whole = torch.empty(shape)
        streamed_fill(block.fill, whole, 5, shape, block_size=16)
        boxes = [[(0, shape[0] // 2 + 1)] + [(0, m) for m in shape[1:]]]
        if len(shape) == 2:
            boxes += [[(0, shape[0]), (1, shape[1] // 2)], [(shape[0] // 3, shape[0]), (shape[1] // 2, shape[1])]]
        for box in boxes:
            piece = torch.empty([b - a for a, b in box])
            streamed_fill(block.fill, piece, 5, shape, box, block_size=16)
            assert torch.equal(piece, whole[tuple(slice(a, b) for a, b in box)]), (block.module, block.parameter, box)
