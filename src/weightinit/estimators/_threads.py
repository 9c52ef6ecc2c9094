"""One CPU thread for small models: the estimators' guard against thread oversubscription.

PyTorch runs an operation on all its intra-op threads once it is large enough, and every such
operation ends at a barrier where each thread must have had its turn on a core. With small
matrices (digits, a check_estimator run, a minibatch of 10) an update is a few dozen tiny
operations, each too small to gain from a second thread; when the cores are shared with other
work (another process, or ``GridSearchCV(n_jobs=...)`` running several fits at once) every
barrier waits for a time slice: scikit-learn's ``check_estimator`` on a small DBNClassifier
took 3 s on one thread and 64 s on two, on a 2-core machine with one other busy process.
scikit-learn limits its BLAS threads for the same reason (``threadpoolctl``).
:func:`threads_for` keeps one thread while a minibatch's largest matrix product is below
``SMALL_PRODUCT`` multiply-adds, where a second thread brings little even on idle cores, and
leaves PyTorch's setting alone otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

__all__ = ["SMALL_PRODUCT", "threads_for"]

SMALL_PRODUCT = 1 << 20  # multiply-adds of a minibatch's largest product (batch x fan_in x fan_out)


@contextmanager
def threads_for(batch_size: int, layer_sizes: Sequence[int], device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block on one intra-op thread when the model is small (see the module
    docstring), and restore PyTorch's thread count afterwards, even on an error. On a GPU,
    or for a larger model, the block runs with PyTorch's setting unchanged."""
    sizes = list(layer_sizes)
    largest = max((a * b for a, b in zip(sizes[:-1], sizes[1:])), default=0)
    small = torch.device(device).type == "cpu" and batch_size * largest < SMALL_PRODUCT
    before = torch.get_num_threads()
    if not small or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
