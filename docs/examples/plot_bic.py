"""
Choosing the number of components and the covariance model by BIC
=================================================================

:func:`emkit.select_model` does what R's ``mclustBIC`` does: it fits every number of
components G = 1..9 with each of mclust's 14 covariance models, started from one
model-based hierarchical clustering, and tabulates BIC (mclust's sign: larger is
better). On Old Faithful it picks mclust's model, EEE with three components.

The plot of all 126 fits is dominated by the worst models (G = 1 and the spherical
EII / VII), so the competitive curves are squashed at the top; ``ylim="top"`` zooms on
the better half of the fits.
"""

import matplotlib.pyplot as plt

from emkit import select_model
from emkit.datasets import load_faithful
from emkit.plotting import plot_bic

X = load_faithful()
result = select_model(X)
print(result)

# %%
fig, (full, zoom) = plt.subplots(1, 2, figsize=(13, 5.5), layout="constrained")
plot_bic(result, full, title="every model")
plot_bic(result, zoom, ylim="top", title='zoom: ylim="top"')
plt.show()

# %%
# The best model is fitted already; ``result.table`` has one row per (G, model).
print(result.best_params_)
print(result.best_model_)
print(result.top(5))
