"""Pictures of hidden state sequences (needs matplotlib: ``pip install 'emkit[plot]'``).

:func:`plot_states` draws a series over time with the background coloured by
state: the decoded (or true) state of every step, as runs of one colour.  A
plain matplotlib function, meant to move into :mod:`emkit.plotting`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["plot_states", "state_runs"]

MISSING_MATPLOTLIB = "plotting needs matplotlib: pip install 'emkit[plot]'"


def state_runs(states: np.ndarray) -> list[tuple[int, int, int]]:
    """Maximal runs of one state: ``(start, stop, state)`` with ``stop`` exclusive."""
    states = np.asarray(states)
    if states.size == 0:
        return []
    change = np.flatnonzero(states[1:] != states[:-1]) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [states.size]])
    return [(int(a), int(b), int(states[a])) for a, b in zip(starts, stops, strict=True)]


def plot_states(X, states, ax=None, *, columns: Sequence[int] | None = None,
                time=None, state_names: Sequence[str] | None = None,
                title: str | None = None, alpha: float = 0.25) -> Any:
    """A series over time on a background coloured by state.

    Parameters
    ----------
    X : array-like of shape (n_steps,) or (n_steps, n_features)
        One sequence (NaN entries leave gaps).
    states : array-like of int, shape (n_steps,)
        The state of every step (e.g. ``model.predict(X)``); -1 is left white.
    ax : matplotlib Axes, optional
        Where to draw; a new figure (from pyplot) is made when None.
    columns : sequence of int, optional
        Columns of X drawn as lines (default: all, at most 5).
    time : array-like of shape (n_steps,), optional
        The x coordinates (default ``0 .. n_steps - 1``).
    state_names : sequence of str, optional
        Legend labels of the states (default "state k").
    title : str, optional
    alpha : float, default=0.25
        Opacity of the state bands.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on; every band is a patch with gid ``"state{k}"``.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    ValueError
        ``states`` does not have one entry per row of X.
    """
    try:
        import matplotlib.patches as mpatches
    except ImportError as exc:
        raise ImportError(MISSING_MATPLOTLIB) from exc
    data = np.asarray(X, dtype=float)
    if data.ndim == 1:
        data = data[:, None]
    states = np.asarray(states).astype(int)
    n = data.shape[0]
    if states.shape != (n,):
        raise ValueError(f"states must have one entry per row of X ({n}), got shape "
                         f"{states.shape}")
    t = np.arange(n, dtype=float) if time is None else np.asarray(time, dtype=float)
    if t.shape != (n,):
        raise ValueError(f"time must have one entry per row of X ({n}), got shape {t.shape}")
    if columns is None:
        columns = list(range(min(data.shape[1], 5)))
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
    K = int(states.max()) + 1 if states.size and states.max() >= 0 else 0
    import matplotlib

    palette = matplotlib.colormaps["tab10" if K <= 10 else "tab20"]
    colors = [palette(k % palette.N) for k in range(K)]
    # band edges halfway between steps, so that runs touch
    edges = np.empty(n + 1)
    if n > 1:
        edges[1:-1] = 0.5 * (t[1:] + t[:-1])
        edges[0] = t[0] - 0.5 * (t[1] - t[0])
        edges[-1] = t[-1] + 0.5 * (t[-1] - t[-2])
    else:
        edges[:] = (t[0] - 0.5, t[0] + 0.5)
    for start, stop, k in state_runs(states):
        if k < 0:
            continue
        ax.axvspan(edges[start], edges[stop], color=colors[k], alpha=alpha, lw=0,
                   gid=f"state{k}")
    for j in columns:
        ax.plot(t, data[:, j], lw=0.8, color="0.15" if len(columns) == 1 else None,
                label=None if len(columns) == 1 else f"x{j}")
    names = state_names if state_names is not None else [f"state {k}" for k in range(K)]
    handles = [mpatches.Patch(color=colors[k], alpha=min(1.0, 2 * alpha), label=names[k])
               for k in range(K)]
    line_handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + line_handles, loc="upper right", fontsize="small",
              ncol=min(K + len(line_handles), 6))
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("time")
    if title is not None:
        ax.set_title(title)
    return ax
