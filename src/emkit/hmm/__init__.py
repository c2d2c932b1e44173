"""Hidden Markov models fitted by EM (Baum-Welch) on the shared engine and families.

:class:`HMM` takes any emission family (``emission="gaussian"``, ...); the
named estimators fix it: :class:`GaussianHMM`, :class:`CategoricalHMM`,
:class:`PoissonHMM`, :class:`BernoulliHMM` and :class:`GMMHMM`.  The engine
model is :class:`~emkit.hmm.model.HiddenMarkovModel`; sequences reach it as
chunks of a :class:`~emkit.hmm.sources.SequenceSource` (in memory) or of a
:class:`~emkit.hmm.dask.DaskSequenceSource` (a dask array: blocks of whole
sequences, the E-step on the workers).
"""

from .dask import DaskSequenceSource, rechunk_sequences
from .estimators import (
    GMMHMM,
    HMM,
    BernoulliHMM,
    CategoricalHMM,
    GaussianHMM,
    PoissonHMM,
    StudentTHMM,
)
from .model import HiddenMarkovModel, HMMParams
from .selection import select_n_states
from .sources import SequenceSource

__all__ = [
    "GMMHMM",
    "HMM",
    "BernoulliHMM",
    "CategoricalHMM",
    "DaskSequenceSource",
    "GaussianHMM",
    "HMMParams",
    "HiddenMarkovModel",
    "PoissonHMM",
    "SequenceSource",
    "StudentTHMM",
    "rechunk_sequences",
    "select_n_states",
]
