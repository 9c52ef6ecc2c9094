"""From scikit-learn's input to a float32 tensor, with as few passes over the data as possible.

scikit-learn validates X (shape, dtype, sparse format) and scans it once for NaN/inf (the sum
of all entries must be finite). The estimators here skip that scan and make their own single
pass instead, :func:`summarize`, which also yields what training needs from the data: the
column sums (the visible biases start at the data's mean, Hinton's guide sec. 8), the squared
deviations (a Gaussian RBM standardizes) and the minimum and maximum (a Bernoulli RBM clips to
[0, 1]). The pass walks the rows in chunks of about 16 MiB, so that the reductions of a chunk
read it from cache: one trip through memory, as scikit-learn's scan.

:func:`as_tensor` makes the one conversion: none at all for a C-contiguous float32 array
(the tensor shares its memory, and nothing here writes into it), one copy otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import assert_all_finite

__all__ = ["Summary", "as_tensor", "summarize", "check_finite"]

# rows per chunk of summarize: about 16 MiB, so that a chunk stays in a CPU's last-level cache for its
# reductions, and few enough chunks (12 for MNIST) that each op's thread start-up stays negligible
CHUNK_BYTES = 16 << 20


def as_tensor(X, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """X (a validated 2-D numpy array or scipy sparse matrix) as a C-contiguous tensor of
    ``dtype`` (float32 or float64) on ``device``, made with at most one copy: none for a
    C-contiguous array of that dtype on the CPU, whose memory the tensor shares (read-only
    use), including read-only arrays."""
    if sp.issparse(X):
        X = X.toarray()
    X = np.ascontiguousarray(X, dtype=np.float64 if dtype == torch.float64 else np.float32)
    with warnings.catch_warnings():  # a read-only array (a memmap): the tensor is only read
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensor = torch.from_numpy(X)
    return tensor.to(device)


@dataclass
class Summary:
    """What one pass over x (N, D) yields: column sums (float64), min, max, and with
    ``squares`` the columns' sums of squared deviations from their means (float64)."""

    n: int
    column_sum: torch.Tensor  # (D,) float64
    column_m2: torch.Tensor | None  # (D,) float64: sum of (x - mean)^2, when asked for
    minimum: float
    maximum: float

    @property
    def finite(self) -> bool:
        """Whether every entry is finite: a NaN or an inf makes its column's sum NaN or inf.
        (Finite values whose sum overflows float64 read as not finite; :func:`check_finite`
        then tells the two apart.)"""
        return bool(torch.isfinite(self.column_sum).all()) and np.isfinite(self.minimum) and np.isfinite(self.maximum)

    @property
    def mean(self) -> torch.Tensor:
        """Column means, float64 (D,)."""
        return self.column_sum / self.n

    @property
    def std(self) -> torch.Tensor:
        """Column standard deviations (population, as numpy's ``std``), float64 (D,)."""
        if self.column_m2 is None:
            raise RuntimeError("summarize(..., squares=True) computes the squared deviations that std needs")
        return (self.column_m2 / self.n).sqrt()

    @property
    def scale(self) -> np.ndarray:
        r"""The standardization's divisors: ``std``, and 1 for a constant column (one whose
        std is within float32 rounding of its mean, :math:`\sigma \le 10^{-6}|\mu|`, as
        scikit-learn's StandardScaler leaves constant features unscaled)."""
        std, mean = self.std.cpu().numpy(), self.mean.cpu().numpy()
        return np.where(std > 1e-6 * np.abs(mean), std, 1.0)


@torch.no_grad()
def summarize(x: torch.Tensor, *, squares: bool = False) -> Summary:
    r"""One pass over ``x`` of shape (N, D): column sums, minimum and maximum, and with
    ``squares`` the sums of squared deviations, chunk by chunk: each chunk's float32 sums and
    squared deviations from its own mean, merged in float64 by Chan, Golub & LeVeque's
    pairwise update (1979), :math:`M_2 = M_{2,a} + M_{2,b} + \delta^2 n_a n_b / n` with
    :math:`\delta` the difference of the two means (no cancellation, unlike
    :math:`E[x^2] - E[x]^2`)."""
    n, d = x.shape
    rows = max(1, CHUNK_BYTES // (4 * max(d, 1)))
    column_sum = torch.zeros(d, dtype=torch.float64, device=x.device)
    m2 = torch.zeros(d, dtype=torch.float64, device=x.device) if squares else None
    low, high, seen = [], [], 0
    for chunk in x.split(rows):
        chunk_sum = chunk.sum(0).double()  # float32 within a chunk (a float64 reduction is 100x slower)
        if m2 is not None:
            k = len(chunk)
            chunk_mean = chunk_sum / k
            chunk_m2 = (chunk - chunk_mean.to(chunk.dtype)).square().sum(0).double()
            if seen:
                delta = chunk_mean - column_sum / seen
                m2 += chunk_m2 + delta.square() * (seen * k / (seen + k))
            else:
                m2 += chunk_m2
            seen += k
        column_sum += chunk_sum
        lo, hi = torch.aminmax(chunk)
        low.append(lo)
        high.append(hi)
    minimum = float(torch.stack(low).min()) if low else 0.0
    maximum = float(torch.stack(high).max()) if high else 0.0
    return Summary(n, column_sum, m2, minimum, maximum)


def check_finite(X, summary: Summary, name: str = "X") -> None:
    """Refuse NaN/inf in X with scikit-learn's own message ("Input X contains NaN."), looking
    element by element only when the one pass found a non-finite sum."""
    if not summary.finite:
        assert_all_finite(X, input_name=name)
