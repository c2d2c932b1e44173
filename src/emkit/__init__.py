"""emkit: latent-variable models fitted by Expectation-Maximization.

The estimators are imported on first use (module-level ``__getattr__``, PEP
562), so ``import emkit`` and the ``emkit`` command start without loading
scikit-learn, SciPy or pandas; ``from emkit import GaussianMixture`` works as
usual and imports what that class needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._config import config_context as config_context
from ._config import get_config as get_config
from ._config import set_config as set_config

__version__ = "0.1.0"

# Public name -> the module that defines it, imported when the name is first
# used.  To publish a new estimator, add its line here and the matching
# ``import ... as ...`` line under TYPE_CHECKING below (for type checkers;
# tests/test_lazy_imports.py checks that the two lists agree).
_LAZY = {
    "BayesianGaussianMixture": "emkit.models.bayesian_mixture",
    "BernoulliHMM": "emkit.hmm",
    "BernoulliMixture": "emkit.models.bernoulli",
    "CategoricalHMM": "emkit.hmm",
    "CategoricalMixture": "emkit.models.categorical",
    "GMMHMM": "emkit.hmm",
    "GaussianHMM": "emkit.hmm",
    "GaussianMixture": "emkit.models.gaussian_mixture",
    "GaussianMixtureImputer": "emkit.models.imputer",
    "GaussianPrior": "emkit.priors",
    "HMM": "emkit.hmm",
    "KMeans": "emkit.models.kmeans",
    "MiniBatchKMeans": "emkit.models.kmeans",
    "MixedMixture": "emkit.models.mixed",
    "MixtureOfExperts": "emkit.models.experts",
    "MixtureOutlierDetector": "emkit.models.outlier",
    "ModelSelection": "emkit.selection",
    "PoissonHMM": "emkit.hmm",
    "PoissonMixture": "emkit.models.poisson",
    "ProbitRegression": "emkit.models.probit",
    "ProgressBar": "emkit.em.progress",
    "RegressionMixture": "emkit.models.regression_mixture",
    "SoftKMeans": "emkit.models.kmeans",
    "StudentTHMM": "emkit.hmm",
    "StudentTMixture": "emkit.models.student_t",
    "select_model": "emkit.selection",
}

# Subpackages and modules reachable as attributes (``emkit.plotting``) without
# an import statement, as before the imports became lazy.
_SUBMODULES = frozenset({
    "datasets", "em", "exceptions", "families", "hierarchical", "init", "io", "models",
    "hmm", "persist", "plotting", "priors", "selection", "selection_generic", "sources",
})

if TYPE_CHECKING:  # type checkers and IDEs see ordinary imports (emkit ships py.typed)
    from .em.progress import ProgressBar as ProgressBar
    from .hmm import GMMHMM as GMMHMM
    from .hmm import HMM as HMM
    from .hmm import BernoulliHMM as BernoulliHMM
    from .hmm import CategoricalHMM as CategoricalHMM
    from .hmm import GaussianHMM as GaussianHMM
    from .hmm import PoissonHMM as PoissonHMM
    from .hmm import StudentTHMM as StudentTHMM
    from .models.bayesian_mixture import BayesianGaussianMixture as BayesianGaussianMixture
    from .models.bernoulli import BernoulliMixture as BernoulliMixture
    from .models.categorical import CategoricalMixture as CategoricalMixture
    from .models.experts import MixtureOfExperts as MixtureOfExperts
    from .models.gaussian_mixture import GaussianMixture as GaussianMixture
    from .models.imputer import GaussianMixtureImputer as GaussianMixtureImputer
    from .models.kmeans import KMeans as KMeans
    from .models.kmeans import MiniBatchKMeans as MiniBatchKMeans
    from .models.kmeans import SoftKMeans as SoftKMeans
    from .models.mixed import MixedMixture as MixedMixture
    from .models.outlier import MixtureOutlierDetector as MixtureOutlierDetector
    from .models.poisson import PoissonMixture as PoissonMixture
    from .models.probit import ProbitRegression as ProbitRegression
    from .models.regression_mixture import RegressionMixture as RegressionMixture
    from .models.student_t import StudentTMixture as StudentTMixture
    from .priors import GaussianPrior as GaussianPrior
    from .selection import ModelSelection as ModelSelection
    from .selection import select_model as select_model

__all__ = sorted([*_LAZY, "__version__", "config_context", "get_config", "set_config"])


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
