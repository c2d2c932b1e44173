"""The example of docs/hmm.md: regimes of a noisy series, found by a Gaussian HMM.

Run from the repository root (needs matplotlib) to remake docs/images/hmm-states.png::

    python docs/hmm_example.py
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from emkit.hmm import GaussianHMM, select_n_states
from emkit.plotting_hmm import plot_states

rng = np.random.default_rng(7)
# three regimes (calm, drifting up, turbulent) that persist for a while
transmat = np.array([[0.98, 0.01, 0.01], [0.02, 0.97, 0.01], [0.03, 0.02, 0.95]])
means, scales = np.array([0.0, 0.6, -0.3]), np.array([0.5, 0.7, 2.0])
lengths = [600, 400, 500]
z = []
for T in lengths:
    state = [0]
    for _ in range(T - 1):
        state.append(rng.choice(3, p=transmat[state[-1]]))
    z.extend(state)
z = np.array(z)
X = (means[z] + scales[z] * rng.normal(size=z.size))[:, None]
X[rng.random(z.size) < 0.03] = np.nan  # a few missing readings

selection = select_n_states(GaussianHMM(random_state=0, n_init=3), X, lengths,
                            n_states=range(1, 6))
print("BIC by number of states:",
      {int(k): float(s) for k, s in zip(selection.n_states, selection.scores.round(1),
                                        strict=True)})
model = selection.best_estimator
print("states:", model.n_components, " converged:", model.converged_,
      " iterations:", model.n_iter_)
print("means:", model.means_.ravel().round(2))
print("std devs:", np.sqrt(model.covariances_.ravel()).round(2))
print("transition matrix:\n", model.transmat_.round(3))
states = model.predict(X, lengths)

fig, ax = plt.subplots(figsize=(10, 3.2), layout="constrained")
first = slice(0, lengths[0])
order = np.argsort(np.sqrt(model.covariances_.ravel()))  # name states by spread
names = {order[0]: "calm", order[1]: "drifting", order[2]: "turbulent"}
plot_states(X[first], states[first], ax=ax,
            state_names=[names.get(k, f"state {k}") for k in range(model.n_components)],
            title="GaussianHMM: Viterbi states of the first sequence")
fig.savefig("docs/images/hmm-states.png", dpi=110)
print("agreement with the true regimes (best relabelling):",
      max(np.mean(np.array(p)[z] == states) for p in
          __import__("itertools").permutations(range(3))).round(3))
