"""Choosing the number of hidden states by an information criterion (minimal helper).

:func:`emkit.select_model` is being generalised to any estimator; until then
this fits one HMM per candidate number of states and keeps the best BIC/AIC.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.base import clone

from .._validation import check_option

CRITERIA = ("bic", "aic")


@dataclasses.dataclass
class StateSelection:
    """Result of :func:`select_n_states`.

    Attributes
    ----------
    n_states : ndarray of int
        The candidates, in the order tried.
    scores : ndarray of float
        Their criterion values (smaller is better).
    best_n_states : int
    best_estimator : estimator
        The fitted estimator with ``best_n_states``.
    criterion : str
    """

    n_states: np.ndarray
    scores: np.ndarray
    best_n_states: int
    best_estimator: object
    criterion: str


def select_n_states(estimator, X, lengths=None, n_states=range(1, 7), criterion: str = "bic",
                    sample_weight=None) -> StateSelection:
    """Fit ``estimator`` with every number of states and keep the best criterion.

    Parameters
    ----------
    estimator : HMM estimator
        Cloned for every candidate with ``n_components`` set.
    X, lengths, sample_weight
        As the estimator's ``fit``.
    n_states : iterable of int, default=range(1, 7)
    criterion : {"bic", "aic"}, default="bic"

    Returns
    -------
    StateSelection

    Examples
    --------
    >>> import numpy as np
    >>> from emkit.hmm import GaussianHMM, select_n_states
    >>> rng = np.random.default_rng(0)
    >>> z = np.repeat(np.tile([0, 1, 2], 10), 40)
    >>> X = rng.normal(np.array([-4.0, 0.0, 4.0])[z], 1.0)[:, None]
    >>> select_n_states(GaussianHMM(random_state=0), X, n_states=[1, 2, 3, 4]).best_n_states
    3
    """
    check_option(criterion, "criterion", CRITERIA)
    candidates = [int(k) for k in n_states]
    if not candidates:
        raise ValueError("n_states is empty: give at least one number of states")
    scores, fitted = [], []
    for k in candidates:
        model = clone(estimator).set_params(n_components=k)
        model.fit(X, lengths, sample_weight=sample_weight)
        scores.append(getattr(model, criterion)(X, lengths))
        fitted.append(model)
    best = int(np.argmin(scores))
    return StateSelection(np.asarray(candidates), np.asarray(scores), candidates[best],
                          fitted[best], criterion)
