"""
Mixture of regressions and mixture of experts
=============================================

Two regimes of a response: ``RegressionMixture`` fits K regression curves with
constant regime weights (here on flexmix's ``NPreg``-like data, a quadratic in
x), ``MixtureOfExperts`` lets the regime probability depend on x through a
softmax gate.  Points are coloured by their most probable regime; an expert's
curve is solid where its gate gives it weight.
"""

import matplotlib.pyplot as plt
import numpy as np

from emkit import MixtureOfExperts, RegressionMixture
from emkit.plotting import plot_gate, plot_regression_mixture

rng = np.random.default_rng(0)
x = rng.uniform(0, 10, 200)
regime = rng.integers(2, size=200)
y = np.where(regime == 0, 5 * x - 0.2 * x**2, 2 + 10 * x - x**2 / 2 + 20) + rng.normal(0, 3, 200)


def design(t):
    return np.column_stack([t, t**2])


mixture = RegressionMixture(2, n_init=5, random_state=0).fit(design(x), y)

u = rng.uniform(-3, 3, 500)
left = rng.random(500) < 1 / (1 + np.exp(3 * u))
v = np.where(left, 2 - u, 1 + 2 * u) + rng.normal(0, 0.3, 500)
experts = MixtureOfExperts(2, n_init=3, random_state=0).fit(u[:, None], v)

fig, axes = plt.subplots(3, 1, figsize=(7, 11), height_ratios=[2, 2, 1], layout="constrained")
plot_regression_mixture(mixture, x, y, ax=axes[0], design=design,
                        title="RegressionMixture: y ~ x + x^2, two regimes")
plot_regression_mixture(experts, u[:, None], v, ax=axes[1], title="MixtureOfExperts")
plot_gate(experts, u[:, None], ax=axes[2])
plt.show()
