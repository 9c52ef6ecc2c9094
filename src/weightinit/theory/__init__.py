"""The theory of signal propagation in deep random networks: mean-field fixed points and depth
scales (:mod:`.meanfield`, integrals by :mod:`.quadrature` over :mod:`.activations`), the critical
line and the ``critical`` schemes (:mod:`.critical`, :mod:`.schemes`), the phase diagram
(:mod:`.phase`) and the free-probability spectrum of the input-output Jacobian (:mod:`.spectra`)."""

from . import schemes  # noqa: F401  registers "critical", "critical_orthogonal", "delta_orthogonal"
from .activations import THEORY_ACTIVATIONS, TheoryActivation
from .critical import CriticalPoint, critical_point, critical_sigma_w2
from .meanfield import MeanField, mean_field
from .spectra import JacobianSpectrum, jacobian_spectrum, spectrum_moments

__all__ = ["mean_field", "MeanField", "critical_point", "critical_sigma_w2", "CriticalPoint", "THEORY_ACTIVATIONS",
           "TheoryActivation", "jacobian_spectrum", "JacobianSpectrum", "spectrum_moments"]
