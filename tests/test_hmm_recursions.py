"""Forward-backward and Viterbi (:mod:`emkit.hmm._recursions`) against brute-force
enumeration of every state path, on both implementations (NumPy, numba), with structural
zeros, impossible rows, the log-space fallback and a sequence of a million steps."""

import itertools

import numpy as np
import pytest

from emkit.hmm import _recursions as R


def _implementations():
    try:
        import numba  # noqa: F401
    except ImportError:
        return [False]
    return [False, True]


IMPLEMENTATIONS = _implementations()


@pytest.fixture(params=["per-sequence", "lockstep"])
def numpy_layout(request, monkeypatch):
    """The NumPy path runs a chunk's sequences one by one or in lockstep."""
    threshold = 1 if request.param == "lockstep" else 10**9
    monkeypatch.setattr(R, "LOCKSTEP_MIN_SEQUENCES", threshold)
    return request.param


def brute_force(log_b, startprob, transmat):
    """Every path of one sequence: log p(x), posteriors, expected transitions, best path."""
    T, K = log_b.shape
    with np.errstate(divide="ignore"):
        log_pi, log_a = np.log(startprob), np.log(transmat)
    paths = list(itertools.product(range(K), repeat=T))
    joint = np.array([log_pi[p[0]] + log_b[0, p[0]]
                      + sum(log_a[p[t - 1], p[t]] + log_b[t, p[t]] for t in range(1, T))
                      for p in paths])
    best = int(np.argmax(joint))
    total = np.logaddexp.reduce(joint)
    gamma = np.zeros((T, K))
    xi = np.zeros((K, K))
    if total > -np.inf:
        for p, value in zip(paths, np.exp(joint - total), strict=True):
            gamma[np.arange(T), p] += value
            for t in range(T - 1):
                xi[p[t], p[t + 1]] += value
    return total, gamma, xi, joint[best], np.array(paths[best])


def _problem(seed, K=3, lengths=(1, 4, 5, 2, 3)):
    rng = np.random.default_rng(seed)
    startprob = rng.dirichlet(np.ones(K))
    transmat = rng.dirichlet(np.ones(K), K)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    log_b = rng.normal(scale=3.0, size=(offsets[-1], K))
    return log_b, offsets, startprob, transmat


@pytest.mark.parametrize("compiled", IMPLEMENTATIONS)
@pytest.mark.parametrize("structural", [False, True])
def test_forward_backward_equals_enumeration(numpy_layout, compiled, structural):
    log_b, offsets, startprob, transmat = _problem(0)
    if structural:  # a left-right chain starting in state 0, and a row state 2 cannot emit
        transmat = np.triu(transmat + 0.1)
        transmat /= transmat.sum(axis=1, keepdims=True)
        startprob = np.array([1.0, 0.0, 0.0])
        log_b[6, 2] = -np.inf
    weights = np.array([1.0, 2.5, 0.0, 1.0, 0.5])
    out = R.forward_backward(log_b, offsets, startprob, transmat, weights, compiled)
    start, trans, occupancy = np.zeros(3), np.zeros((3, 3)), np.zeros(3)
    for s in range(len(weights)):
        rows = slice(offsets[s], offsets[s + 1])
        total, gamma, xi, _, _ = brute_force(log_b[rows], startprob, transmat)
        assert out.loglik[s] == pytest.approx(total, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(out.gamma[rows], gamma, rtol=0, atol=1e-12)
        start += weights[s] * gamma[0]
        trans += weights[s] * xi
        occupancy += weights[s] * gamma.sum(axis=0)
    np.testing.assert_allclose(out.start, start, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out.transitions, trans, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out.occupancy, occupancy, rtol=1e-12, atol=1e-14)
    if structural:
        assert np.all(out.transitions[np.tril_indices(3, -1)] == 0.0)


@pytest.mark.parametrize("compiled", IMPLEMENTATIONS)
def test_viterbi_equals_enumeration(compiled):
    log_b, offsets, startprob, transmat = _problem(1, K=3, lengths=(1, 6, 3, 7))
    best, path = R.viterbi(log_b, offsets, startprob, transmat, compiled)
    for s in range(len(offsets) - 1):
        rows = slice(offsets[s], offsets[s + 1])
        _, _, _, top, top_path = brute_force(log_b[rows], startprob, transmat)
        assert best[s] == pytest.approx(top, rel=1e-13)
        np.testing.assert_array_equal(path[rows], top_path)


@pytest.mark.parametrize("compiled", IMPLEMENTATIONS)
def test_impossible_sequence(numpy_layout, compiled):
    """A row no state can emit, or transitions that cannot reach it: log p(x) = -inf,
    zero posteriors, nothing counted, no path."""
    log_b, offsets, startprob, transmat = _problem(2, lengths=(3, 4))
    log_b[1] = -np.inf
    out = R.forward_backward(log_b, offsets, startprob, transmat, np.ones(2), compiled)
    assert out.loglik[0] == -np.inf and np.isfinite(out.loglik[1])
    assert not out.gamma[:3].any()
    reference = R.forward_backward(log_b[3:], offsets[1:] - 3, startprob, transmat, np.ones(1),
                                   compiled)
    np.testing.assert_allclose(out.transitions, reference.transitions, rtol=1e-14)
    best, path = R.viterbi(log_b, offsets, startprob, transmat, compiled)
    assert best[0] == -np.inf and np.all(path[:3] == -1)
    # an absorbing state 0 the chain starts in, then a row only state 1 can emit
    absorbing = np.array([[1.0, 0.0], [0.5, 0.5]])
    rows = np.array([[0.0, 0.0], [-np.inf, 0.0]])
    out = R.forward_backward(rows, np.array([0, 2]), np.array([1.0, 0.0]), absorbing,
                             np.ones(1), compiled)
    assert out.loglik[0] == -np.inf


@pytest.mark.parametrize("compiled", IMPLEMENTATIONS)
def test_log_space_fallback(numpy_layout, compiled):
    """The filter sits in a state that cannot leave while another explains a row far
    better: the scaled recursion's scale underflows to 0 and the sequence is rerun in log
    space, which gives the exact answer."""
    transmat = np.array([[0.9, 0.1], [0.0, 1.0]])
    startprob = np.array([0.0, 1.0])
    log_b = np.array([[0.0, 0.0], [0.0, -900.0], [-5.0, 0.0], [0.0, -1.0]])
    offsets = np.array([0, 4])
    out = R.forward_backward(log_b, offsets, startprob, transmat, np.ones(1), compiled)
    total, gamma, xi, _, _ = brute_force(log_b, startprob, transmat)
    assert np.isfinite(total) and total < -900.0
    assert out.loglik[0] == pytest.approx(total, rel=1e-13)
    np.testing.assert_allclose(out.gamma, gamma, atol=1e-12)
    np.testing.assert_allclose(out.transitions, xi, atol=1e-12)


@pytest.mark.parametrize("compiled", IMPLEMENTATIONS)
def test_forced_log_space_matches_scaled(numpy_layout, compiled, monkeypatch):
    """Sending every sequence to the log-space recursion changes nothing but rounding."""
    log_b, offsets, startprob, transmat = _problem(3, lengths=(5, 9, 1, 30))
    weights = np.array([1.0, 0.5, 2.0, 1.0])
    scaled = R.forward_backward(log_b, offsets, startprob, transmat, weights, compiled)
    monkeypatch.setattr(R, "SCALE_FLOOR", np.inf)
    logged = R.forward_backward(log_b, offsets, startprob, transmat, weights, compiled)
    for name in ("loglik", "gamma", "start", "transitions", "occupancy"):
        np.testing.assert_allclose(getattr(logged, name), getattr(scaled, name),
                                   rtol=1e-11, atol=1e-13, err_msg=name)


def _long(T, K, seed=4):
    """Gaussian emission log-densities of a regime-switching series of T steps."""
    rng = np.random.default_rng(seed)
    transmat = rng.dirichlet(np.ones(K), K) * 0.2 + 0.8 * np.eye(K)
    runs = rng.geometric(0.1, size=T)
    states = np.repeat(rng.integers(K, size=T), runs)[:T]
    means = np.arange(K) * 1.5
    x = means[states] + rng.normal(size=T)
    log_b = -0.5 * (x[:, None] - means) ** 2 - 0.5 * np.log(2 * np.pi)
    return log_b, np.full(K, 1.0 / K), transmat


@pytest.mark.parametrize("compiled", IMPLEMENTATIONS)
def test_long_sequence_has_no_underflow(compiled, monkeypatch):
    """A million steps (10,000 on the NumPy path): the scaled recursion's log-likelihood
    (about -1.5 per step, far below the float range of a product of densities) equals
    the log-space recursion's, and every posterior row sums to 1."""
    T = 1_000_000 if compiled else 10_000
    log_b, startprob, transmat = _long(T, 3)
    offsets = np.array([0, T])
    scaled = R.forward_backward(log_b, offsets, startprob, transmat, np.ones(1), compiled)
    assert np.isfinite(scaled.loglik[0]) and scaled.loglik[0] < -T
    np.testing.assert_allclose(scaled.gamma.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert scaled.occupancy.sum() == pytest.approx(T, rel=1e-12)
    monkeypatch.setattr(R, "SCALE_FLOOR", np.inf)
    logged = R.forward_backward(log_b, offsets, startprob, transmat, np.ones(1), compiled)
    assert scaled.loglik[0] == pytest.approx(logged.loglik[0], rel=1e-12)
    np.testing.assert_allclose(scaled.transitions, logged.transitions, rtol=1e-9)
    best, path = R.viterbi(log_b, offsets, startprob, transmat, compiled)
    assert np.isfinite(best[0]) and best[0] <= scaled.loglik[0]
    assert path.min() >= 0


@pytest.mark.skipif(len(IMPLEMENTATIONS) < 2, reason="numba is not installed")
def test_compiled_matches_numpy(numpy_layout):
    log_b, offsets, startprob, transmat = _problem(5, K=4, lengths=(50, 1, 200, 17))
    weights = np.array([1.0, 3.0, 0.25, 0.0])
    fast = R.forward_backward(log_b, offsets, startprob, transmat, weights, True)
    slow = R.forward_backward(log_b, offsets, startprob, transmat, weights, False)
    for name in ("loglik", "gamma", "start", "transitions", "occupancy"):
        np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-11,
                                   atol=1e-13, err_msg=name)
    np.testing.assert_array_equal(R.viterbi(log_b, offsets, startprob, transmat, True)[1],
                                  R.viterbi(log_b, offsets, startprob, transmat, False)[1])
