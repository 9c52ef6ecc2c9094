"""The block streams: a seed from blake2b that never changes, any box of a tensor equal to the
same box of the whole, whatever the thread count, layout or block boundaries; the draws are the
distribution asked for. Device: CPU."""

import math

import pytest
import torch
from scipy import stats

from weightinit.scale import fill_box, stream_generator, stream_seed
from weightinit.scale.streams import contiguous_span


def normal(t, g):
    t.normal_(0.0, 1.0, generator=g)


def uniform(t, g):
    t.uniform_(-1.0, 1.0, generator=g)


def test_stream_seed_is_pinned_and_depends_on_every_part():
    # blake2b of the parts: the same in every process, on every machine (Python's hash() is salted)
    assert stream_seed(0, "w", 0, 0) == 1226566499819925171
    seeds = {stream_seed(0, "w", 0, 0), stream_seed(1, "w", 0, 0), stream_seed(0, "v", 0, 0),
             stream_seed(0, "w", 1, 0), stream_seed(0, "w", 0, 1), stream_seed(0, "w0", 0)}
    assert len(seeds) == 6
    assert all(0 <= s < 2**63 for s in seeds)
    assert torch.equal(torch.rand(5, generator=stream_generator(3, 4)), torch.rand(5, generator=stream_generator(3, 4)))


@pytest.mark.parametrize("shape", [(50,), (7, 9), (5, 4, 3), (3, 1, 8, 2)])
@pytest.mark.parametrize("block_size", [1, 7, 16, 10_000])
def test_any_box_equals_the_same_box_of_the_whole(shape, block_size):
    whole = fill_box(torch.empty(shape), normal, 11, shape, block_size=block_size)
    rng = torch.Generator().manual_seed(block_size)
    for _ in range(12):
        box = []
        for n in shape:
            a = int(torch.randint(0, n, (1,), generator=rng))
            b = int(torch.randint(a + 1, n + 1, (1,), generator=rng))
            box.append((a, b))
        piece = fill_box(torch.empty([b - a for a, b in box]), normal, 11, shape, box, block_size=block_size)
        assert torch.equal(piece, whole[tuple(slice(a, b) for a, b in box)]), box


def test_threads_layout_and_dtype_change_nothing():
    shape = (64, 33)
    one = fill_box(torch.empty(shape), uniform, 5, shape, block_size=100, threads=1)
    four = fill_box(torch.empty(shape), uniform, 5, shape, block_size=100, threads=4)
    assert torch.equal(one, four)
    transposed = torch.empty(33, 64).T  # a non-contiguous output: drawn aside, then copied in
    assert torch.equal(fill_box(transposed, uniform, 5, shape, block_size=100), one)
    half = fill_box(torch.empty(shape, dtype=torch.bfloat16), uniform, 5, shape, block_size=100, threads=3)
    assert torch.equal(half, fill_box(torch.empty(shape, dtype=torch.bfloat16), uniform, 5, shape, block_size=100))


def test_blocks_are_independent_draws_of_the_distribution():
    shape = (40, 50)
    values = fill_box(torch.empty(shape), normal, 2, shape, block_size=100).reshape(-1)
    assert stats.kstest(values.numpy(), "norm").pvalue > 1e-4
    blocks = values.view(20, 100)
    assert len({tuple(b[:3].tolist()) for b in blocks}) == 20  # no two blocks share a stream
    other = fill_box(torch.empty(shape), normal, 3, shape, block_size=100).reshape(-1)
    assert abs(float(torch.corrcoef(torch.stack([values, other]))[0, 1])) < 0.1  # another seed: another draw


def test_contiguous_span():
    assert contiguous_span((4, 5), [(1, 3), (0, 5)]) == (5, 15)
    assert contiguous_span((4, 5), [(2, 3), (1, 4)]) == (11, 14)
    assert contiguous_span((4, 5), [(0, 4), (1, 4)]) is None
    assert contiguous_span((2, 3, 4), [(1, 2), (1, 2), (0, 4)]) == (16, 20)


def test_bad_boxes_are_refused():
    with pytest.raises(ValueError, match="does not lie in shape"):
        fill_box(torch.empty(2, 2), normal, 0, (4, 4), [(3, 5), (0, 2)])
    with pytest.raises(ValueError, match="out has shape"):
        fill_box(torch.empty(3, 2), normal, 0, (4, 4), [(0, 2), (0, 2)])
    assert fill_box(torch.empty(0, 4), normal, 0, (4, 4), [(2, 2), (0, 4)]).numel() == 0
    assert math.isfinite(float(fill_box(torch.empty(()), normal, 0, ())))  # a scalar
