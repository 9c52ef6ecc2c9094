"""Kolmogorov-Smirnov checks of a tensor's values against a distribution, as PyTorch's init tests do."""

import torch
from scipy import stats

P_MIN = 1e-4  # KS p-value below which a distribution is rejected


def _sample(t: torch.Tensor):
    return t.detach().flatten().double().cpu().numpy()  # scipy takes numpy, never torch tensors


def ks_uniform(t: torch.Tensor, bound: float) -> float:
    return stats.kstest(_sample(t), "uniform", args=(-bound, 2 * bound)).pvalue


def ks_normal(t: torch.Tensor, std: float, mean: float = 0.0) -> float:
    return stats.kstest(_sample(t), "norm", args=(mean, std)).pvalue


def ks_truncnorm(t: torch.Tensor, mean: float, std: float, a: float, b: float) -> float:
    dist = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    return stats.kstest(_sample(t), dist.cdf).pvalue
