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

found here by safeguarded Newton iterations on ``log nu``; clipping it to the bounds gives the
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
from scipy.special import digamma, gammaln, polygamma

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


def _gap(x):
    """``log(x) - psi(x)`` (positive, decreasing)."""
    return np.log(x) - digamma(x)


def solve_dofs(ratios: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """The nu in ``bounds`` maximising Q, per ratio: roots of ``log(nu/2) - psi(nu/2) = ratio``.

    ``ratio = -S / N >= 0``; the left side decreases in nu, so a ratio above its
    value at the lower bound gives the lower bound and one below its value at
    the upper bound (including 0: all precision weights exactly 1) gives the
    upper bound.  Inside, Newton's method on ``t = log nu`` (derivative
    ``1 - x psi'(x)``, ``x = nu/2``), safeguarded by bisection of a bracket
    that every iterate narrows, to a relative accuracy of :data:`DOF_RTOL`.
    """
    low, high = bounds
    ratios = np.asarray(ratios, dtype=float)
    out = np.where(ratios > _gap(high / 2), np.nan, high)
    out = np.where(np.isnan(out) & (ratios >= _gap(low / 2)), low, out)
    inside = np.isnan(out)
    if not inside.any():
        return out
    r = ratios[inside]
    lower = np.full(r.shape, math.log(low))  # f > 0 there
    upper = np.full(r.shape, math.log(high))  # f < 0 there
    # gap(x) ~ 1/(2x) for large x: nu ~ 1/r; start inside the bracket
    t = np.clip(-np.log(r), lower + 1e-3, upper - 1e-3)
    for _ in range(200):
        x = np.exp(t) / 2
        f = _gap(x) - r
        positive = f > 0
        lower = np.where(positive, t, lower)
        upper = np.where(positive, upper, t)
        slope = 1.0 - x * polygamma(1, x)  # d f / d t < 0
        proposal = t - f / slope
        bad = ~((proposal > lower) & (proposal < upper))
        proposal = np.where(bad, 0.5 * (lower + upper), proposal)
        converged = np.abs(proposal - t) <= DOF_RTOL * np.maximum(1.0, np.abs(t))
        t = proposal
        if converged.all():
            break
    out[inside] = np.clip(np.exp(t), low, high)
    return out


def solve_dof(ratio: float, bounds: tuple[float, float]) -> float:
    """:func:`solve_dofs` for one ratio."""
    return float(solve_dofs(np.array([ratio]), bounds)[0])


def _unit_objective(dof: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """``Q_k(nu) / N_k`` up to a constant: ``nu/2 log(nu/2) - log Gamma(nu/2) - nu/2 (r + 1)``."""
    half = dof / 2
    return half * np.log(half) - gammaln(half) - half * (ratios + 1.0)


def improve_dofs(ratios: np.ndarray, bounds: tuple[float, float], start: np.ndarray,
                 max_iter: int) -> np.ndarray:
    """At most ``max_iter`` Newton steps on ``log nu`` from ``start`` that never decrease Q.

    The generalized-EM M-step for nu (:mod:`emkit.em.generalized`): each step
    ``t <- t - f / f'`` (``t = log nu``, ``f = log(nu/2) - psi(nu/2) - ratio``,
    whose sign is that of dQ/dnu, so the step goes uphill) is clipped to the
    bounds and, when it crosses the root, halved until ``Q`` is not below its
    value at ``t`` (Q is concave in nu, so a halved step is accepted; one
    that stays on its side of the root increases Q).  At the root (an EM
    fixed point) the step is 0.
    """
    low, high = bounds
    ratios = np.asarray(ratios, dtype=float)
    t = np.log(np.clip(np.asarray(start, dtype=float), low, high))
    for _ in range(max_iter):
        x = np.exp(t) / 2
        f = _gap(x) - ratios
        slope = 1.0 - x * polygamma(1, x)  # d f / d t < 0
        step = np.clip(t - f / slope, math.log(low), math.log(high)) - t
        value = _unit_objective(np.exp(t), ratios)
        for _halving in range(60):
            trial = t + step
            # Q rises monotonically up to the root: a step that does not cross it
            # (f keeps its sign) increases Q; one that does is checked on Q itself
            same_side = np.sign(_gap(np.exp(trial) / 2) - ratios) * np.sign(f) >= 0
            ok = same_side | (_unit_objective(np.exp(trial), ratios)
                              >= value - 1e-15 * np.abs(value))
            if ok.all():
                break
            step = np.where(ok, step, 0.5 * step)
        t = np.where(ok, t + step, t)
    return np.clip(np.exp(t), low, high)


def update_dof(counts: np.ndarray, terms: np.ndarray, previous: np.ndarray,
               empty: np.ndarray, shared: bool, bounds: tuple[float, float],
               max_iter: int | None = None) -> np.ndarray:
    """New degrees of freedom (K,) from ``N_k`` (counts) and ``S_k`` (terms).

    Empty components keep their previous value; a shared value pools the
    statistics of the other components.  ``max_iter`` None solves the
    M-step exactly (:func:`solve_dofs`); an integer takes at most that many
    Q-increasing Newton steps from ``previous`` (:func:`improve_dofs`,
    generalized EM).
    """
    dof = np.array(previous, dtype=float, copy=True)
    active = ~empty & (counts > 0)
    if not active.any():
        return dof

    def solve(ratios: np.ndarray, start: np.ndarray) -> np.ndarray:
        if max_iter is None:
            return solve_dofs(ratios, bounds)
        return improve_dofs(ratios, bounds, start, max_iter)

    if shared:
        ratio = -float(terms[active].sum()) / float(counts[active].sum())
        start = dof[active][:1]
        return np.full(dof.shape, float(solve(np.array([max(ratio, 0.0)]), start)[0]))
    dof[active] = solve(np.maximum(-terms[active] / counts[active], 0.0), dof[active])
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


#: ``dof`` values that estimate the degrees of freedom.
DOF_MODES = ("estimate", "shared")


def check_dof(dof, n_components: int | None = None) -> tuple[str, np.ndarray | None]:
    """Validate ``dof``: "estimate", "shared", or fixed positive value(s).

    Returns (mode, fixed values or None); mode is "estimate", "shared" or "fixed".
    """
    if isinstance(dof, str):
        if dof not in DOF_MODES:
            raise ValueError(f"dof must be 'estimate', 'shared' or a positive number, got {dof!r}")
        return dof, None
    try:
        values = np.asarray(dof, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"dof must be 'estimate', 'shared' or a positive number, got {dof!r}"
                         ) from None
    if values.ndim > 1 or (values.ndim == 1 and n_components is not None
                           and values.shape[0] != n_components):
        raise ValueError(f"dof must be a number or one value per component "
                         f"({n_components}), got shape {values.shape}")
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError(f"dof must be > 0 (and finite), got {dof!r}")
    return "fixed", values
