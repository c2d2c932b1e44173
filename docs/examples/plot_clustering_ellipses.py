"""
Clustering Old Faithful with a Gaussian mixture
===============================================

Fit a three-component Gaussian mixture to the Old Faithful eruptions (duration and
waiting time, 272 rows) and draw each component's 1- and 2-sigma ellipses; k-means
on the same data, for comparison, cuts the plane into Voronoi cells and ignores the
shape of the clusters.
"""

import matplotlib.pyplot as plt

from emkit import GaussianMixture, KMeans
from emkit.datasets import load_faithful
from emkit.plotting import plot_mixture

X = load_faithful()
names = ["eruption (minutes)", "waiting (minutes)"]

gm = GaussianMixture(n_components=3, covariance_type="full", n_init=5,
                     random_state=0).fit(X)
km = KMeans(n_clusters=3, random_state=0).fit(X)

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
plot_mixture(gm, X, left, names, title="GaussianMixture, K=3, full covariances")
plot_mixture(km, X, right, names, title="KMeans, K=3")
plt.show()

# %%
# The fitted parameters: weights, means and the per-row responsibilities.
print("weights:", gm.weights_.round(3))
print("means:\n", gm.means_.round(2))
print("BIC (scikit-learn's sign, smaller is better):", round(gm.bic(X), 2))
print("rows whose component is uncertain (max responsibility < 0.9):",
      int((gm.predict_proba(X).max(axis=1) < 0.9).sum()))
