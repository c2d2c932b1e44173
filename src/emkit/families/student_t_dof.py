"""Degrees of freedom of Student-t components: the normalising constant and the M-step.

The multivariate t is a scale mixture of Gaussians: ``x | u ~ N(mu, Sigma / u)``
with ``u ~ Gamma(nu / 2, rate nu / 2)``.  Given a row with ``p`` observed
coordinates and squared Mahalanobis distance ``delta`` (about the observed
part of the mean and scale), ``u | x ~ Gamma((nu + p) / 2, rate (nu + delta) / 2)``:

* ``E[u | x] = (nu + p) / (nu + delta)`` (the row's *precision weight*);
* ``E[log u | x] = psi((nu + p) / 2) - log((nu + delta) / 2)``.

M-step for nu (ECM; McLachlan & Peel 2000, section 7.5; Liu & Rubin 1995)
-------------------------------------------------------------------------
The part of the expected complete-data log-likelihood that depends on the
degrees of freedom of component k is

    Q_k(nu) = sum_i r_ik [nu/2 log(nu/2) - log Gamma(nu/2) + nu/2 (E[log u] - E[u])],

with the expectations taken at the current parameters.  Its derivative is
``(N_k / 2) [log(nu/2) - psi(nu/2) + S_k / N_k]`` with
``N_k = sum_i r_ik`` and ``S_k = sum_i r_ik (E[log u] - E[u] + 1) <= 0``
(Jensen: ``E log u <= log E u <= E u - 1``).  ``log(x) - psi(x)`` decreases
from +inf to 0, so Q_k is concave with one maximiser, the root of

    log(nu/2) - psi(nu/2) = -S_k / N_k,

found here by Brent's method on ``log nu``; clipping it to the bounds gives the
maximiser over the bounded interval.  A *shared* nu solves the same equation
with ``S`` and ``N`` summed over components.  This is an exact M-step: EM stays
monotone.

``S_k`` is an additive statistic (a sum over rows), so the M-step needs no
extra pass over the data.  The ECME variant (the observed-data likelihood
maximised over nu at the *new* location and scale) converges in fewer
iterations but needs the Mahalanobis distances at the new parameters: a second
pass over the data every iteration, or (rows x components) distances kept in
memory, which neither chunked, out-of-core nor online EM can afford.  Both have
the same fixed points; ``accelerate="squarem"`` recovers most of ECME's
speed-up (see docs/student-t.md).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import digamma, gammaln

#: Default bounds of estimated degrees of freedom.  The upper bound means
#: "practically Gaussian": within 3 scale units of the mean, the log-density of
#: a t with 200 degrees of freedom differs from the normal's by less than 0.1
#: (in up to 10 dimensions).  The lower bound keeps nu away from 0, where the
#: density flattens out entirely.
DEFAULT_DOF_BOUNDS = (0.1, 200.0)
#: Default starting value of estimated degrees of freedom.
DEFAULT_DOF_INIT = 4.0
#: Relative accuracy of the root of the nu equation.
DOF_RTOL = 1e-13


#: Above this ``nu / 2`` the normaliser uses Stirling's series (see log_normaliser).
_STIRLING_FROM = 50.0


def log_normaliser(dof: np.ndarray, n_observed) -> np.ndarray:
    """``log Gamma((nu + p)/2) - log Gamma(nu/2) - (p/2) log(nu pi)``, 0 when p = 0.

    ``dof`` (K,) and ``n_observed`` p (scalar or (n,)) broadcast to (K,) or
    (n, K).  For large nu the two log-gammas are huge and nearly equal, so with
    ``a = nu/2``, ``b = p/2`` the difference is taken from Stirling's series,

        (a + b - 1/2) log1p(b/a) - b - b log(2 pi) - b / (12 a (a + b))
        + (a^-3 - (a + b)^-3) / 360 - (a^-5 - (a + b)^-5) / 1260,

    which keeps full precision as nu grows (it tends to ``-(p/2) log(2 pi)``,
    the Gaussian constant); below ``a = 50`` the log-gammas are subtracted directly.
    """
    dof = np.asarray(dof, dtype=float)
    p = np.asarray(n_observed, dtype=float)
    if p.ndim == 0:
        if p == 0:
            return np.zeros_like(dof)
        a, b = dof / 2, p / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            stirling = ((a + b - 0.5) * np.log1p(b / a) - b - b * np.log(2 * np.pi)
                        - b / (12 * a * (a + b)) + (a**-3.0 - (a + b) ** -3.0) / 360
                        - (a**-5.0 - (a + b) ** -5.0) / 1260)
        direct = gammaln(a + b) - gammaln(a) - b * np.log(dof * np.pi)
        return np.where(a >= _STIRLING_FROM, stirling, direct)
    out = np.zeros((p.shape[0], dof.shape[0]))
    for value in np.unique(p):
        if value > 0:
            out[p == value] = log_normaliser(dof, value)
    return out


def expected_log_gap(dof: np.ndarray, n_observed) -> np.ndarray:
    """``psi((nu + p)/2) - log((nu + p)/2)`` (<= 0): the part of ``E[log u] - E[u] + 1``
    that does not depend on the distance; shapes as :func:`log_normaliser`."""
    dof = np.asarray(dof, dtype=float)
    p = np.asarray(n_observed, dtype=float)
    a = (dof[None, :] + p[:, None]) / 2 if p.ndim else (dof + p) / 2
    return digamma(a) - np.log(a)


def distance_terms(dof: np.ndarray, n_observed, delta: np.ndarray):
    """(``E[u | x]``, ``log u - u + 1`` at that u) for distances ``delta`` (n, K).

    ``u = (nu + p) / (nu + delta)``; ``log u - u + 1 = log1p(t) - t`` with
    ``t = u - 1 = (p - delta) / (nu + delta)``, accurate when u is near 1.
    """
    p = np.asarray(n_observed, dtype=float)
    if p.ndim:
        p = p[:, None]
    denominator = dof + delta
    t = (p - delta) / denominator
    return 1.0 + t, np.log1p(t) - t


def _gap(x: float) -> float:
    """``log(x) - psi(x)`` (positive, decreasing)."""
    return math.log(x) - float(digamma(x))


def solve_dof(ratio: float, bounds: tuple[float, float]) -> float:
    """The nu in ``bounds`` maximising Q: root of ``log(nu/2) - psi(nu/2) = ratio``.

    ``ratio = -S / N >= 0``; the left side decreases in nu, so a ratio above its
    value at the lower bound gives the lower bound and one below its value at
    the upper bound (including 0: all precision weights exactly 1) gives the
    upper bound.
    """
    low, high = bounds
    if not ratio > _gap(high / 2):
        return float(high)
    if ratio >= _gap(low / 2):
        return float(low)
    root = brentq(lambda t: _gap(math.exp(t) / 2) - ratio, math.log(low), math.log(high),
                  xtol=1e-15, rtol=DOF_RTOL, maxiter=200)
    return float(min(max(math.exp(root), low), high))


def update_dof(counts: np.ndarray, terms: np.ndarray, previous: np.ndarray,
               empty: np.ndarray, shared: bool, bounds: tuple[float, float]) -> np.ndarray:
    """New degrees of freedom (K,) from ``N_k`` (counts) and ``S_k`` (terms).

    Empty components keep their previous value; a shared value pools the
    statistics of the other components.
    """
    dof = np.array(previous, dtype=float, copy=True)
    active = ~empty & (counts > 0)
    if not active.any():
        return dof
    if shared:
        ratio = -float(terms[active].sum()) / float(counts[active].sum())
        return np.full(dof.shape, solve_dof(max(ratio, 0.0), bounds))
    for k in np.flatnonzero(active):
        dof[k] = solve_dof(max(-float(terms[k]) / float(counts[k]), 0.0), bounds)
    return dof


def expected_dof_objective(dof: float, counts: float, terms: float) -> float:
    """``Q_k(nu)`` up to a constant: ``N [nu/2 log(nu/2) - log Gamma(nu/2)] + nu/2 (S - N)``.

    (``S - N = sum r (E log u - E u)``.)  Used by the tests to check the M-step.
    """
    half = dof / 2
    return counts * (half * math.log(half) - float(gammaln(half))) + half * (terms - counts)


def check_dof_bounds(bounds) -> tuple[float, float]:
    """``dof_bounds``: two finite numbers 0 < low < high."""
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"dof_bounds must be a pair (low, high), got {bounds!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low < high):
        raise ValueError(f"dof_bounds must satisfy 0 < low < high (finite), got {bounds!r}")
    return low, high
