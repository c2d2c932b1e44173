"""The registry of covariance models: mclust's names and scikit-learn's aliases.

==========  =========  =====================================  ==============
mclust      alias      Sigma_k (volume, shape, orientation)   storage
==========  =========  =====================================  ==============
EII                    lambda I                                (K,)
VII         spherical  lambda_k I                              (K,)
EEI                    lambda A                                (K, D)
VEI                    lambda_k A                              (K, D)
EVI                    lambda A_k                              (K, D)
VVI         diag       lambda_k A_k                            (K, D)
EEE         tied       lambda D A D'                           (D, D)
VEE                    lambda_k D A D'                         (K, D, D)
EVE                    lambda D A_k D'                         (K, D, D)
VVE                    lambda_k D A_k D'                       (K, D, D)
EEV                    lambda D_k A D_k'                       (K, D, D)
VEV                    lambda_k D_k A D_k'                     (K, D, D)
EVV                    lambda D_k A_k D_k'                     (K, D, D)
VVV         full       lambda_k D_k A_k D_k'                   (K, D, D)
E                      one variance (1-D data)                 (K,)
V                      variable variances (1-D data)           (K,)
==========  =========  =====================================  ==============

"storage" is the shape of ``covariances_``: models with diagonal covariances
store their diagonals, spherical ones one variance per component (repeated
when it is shared), the rest full matrices.
"""

from __future__ import annotations

from .covariance import CovarianceStructure, Diagonal, Full, Spherical, Tied
from .decomposed import DECOMPOSED_MODELS

#: mclust's 14 multivariate models, in mclust's order.
MCLUST_MODELS = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
                 "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV")
#: mclust's models for one-dimensional data.
UNIVARIATE_MODELS = ("E", "V")
#: scikit-learn's names and the mclust model each one is.
SKLEARN_ALIASES = {"spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV"}

_SKLEARN = {"full": Full(), "tied": Tied(), "diag": Diagonal(), "spherical": Spherical()}

COVARIANCE_STRUCTURES: dict[str, CovarianceStructure] = {
    **_SKLEARN,
    **{mclust: _SKLEARN[alias] for alias, mclust in SKLEARN_ALIASES.items()},
    **{model.name: model for model in DECOMPOSED_MODELS},
}


def get_structure(name: str) -> CovarianceStructure:
    """Look up a covariance model by mclust name or scikit-learn alias.

    Raises
    ------
    ValueError
        Naming the valid names when ``name`` is not one of them.
    """
    try:
        return COVARIANCE_STRUCTURES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"covariance_type must be one of {list(SKLEARN_ALIASES)} or mclust's "
            f"{list(MCLUST_MODELS + UNIVARIATE_MODELS)}, got {name!r}"
        ) from None


def mclust_name(name: str) -> str:
    """mclust's name for a covariance model (scikit-learn aliases translated)."""
    get_structure(name)
    return SKLEARN_ALIASES.get(name, name)


def model_names(n_features: int) -> tuple[str, ...]:
    """The models mclust fits for data with ``n_features`` columns (E, V in 1-D)."""
    return UNIVARIATE_MODELS if n_features == 1 else MCLUST_MODELS
