"""
Outlier scores from a mixture density
=====================================

:class:`emkit.MixtureOutlierDetector` models the density ``p(x)`` with a Gaussian
mixture and flags a row when ``p(x)`` is below a threshold; here the threshold is set
by ``contamination=0.02`` (the 2% of training rows with the lowest density). Eight
made-up eruptions with unusual combinations of duration and waiting time are added to
Old Faithful: each value alone is ordinary, but not the pair.
"""

import matplotlib.pyplot as plt
import numpy as np

from emkit import MixtureOutlierDetector
from emkit.datasets import load_faithful

X = load_faithful()
odd = np.array([[4.6, 50.0], [4.8, 55.0], [1.8, 85.0], [2.0, 90.0],
                [3.0, 95.0], [5.4, 70.0], [1.4, 70.0], [3.2, 45.0]])
data = np.vstack([X, odd])

detector = MixtureOutlierDetector(n_components=3, contamination=0.02, n_init=3,
                                  random_state=0).fit(data)
flags = detector.predict(data)  # -1: outlier, +1: inlier
log_density = detector.score_samples(data)

xx, yy = np.meshgrid(np.linspace(1.0, 6.0, 200), np.linspace(38.0, 100.0, 200))
grid = detector.score_samples(np.column_stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)

fig, ax = plt.subplots(figsize=(7.5, 5.5), layout="constrained")
shade = ax.contourf(xx, yy, grid, levels=20, cmap="Blues")
ax.contour(xx, yy, grid, levels=[detector.offset_], colors="crimson", linewidths=2)
ax.scatter(*data[flags == 1].T, s=12, color="black", label="inlier")
ax.scatter(*data[flags == -1].T, s=60, facecolors="none", edgecolors="crimson",
           linewidths=2, label="flagged (p(x) below the red contour)")
ax.scatter(*odd.T, marker="x", s=40, color="orange", label="made-up eruptions")
fig.colorbar(shade, label="log p(x)")
ax.set_xlabel("eruption (minutes)")
ax.set_ylabel("waiting (minutes)")
ax.legend(loc="lower right", fontsize="small")
plt.show()

# %%
caught = int((flags[-len(odd):] == -1).sum())
print(f"threshold: p(x) < {np.exp(detector.offset_):.3g}")
print(f"flagged {int((flags == -1).sum())} of {len(data)} rows; "
      f"{caught} of the {len(odd)} made-up eruptions among them")
print("lowest log-densities:", np.sort(log_density)[:5].round(2))
