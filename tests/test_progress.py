"""Long fits: callbacks, verbose lines, the progress bar, checkpoints and exact resumption."""

import io
import os
import warnings

import numpy as np
import pytest

from emkit import GaussianMixture, KMeans, MiniBatchKMeans, ProgressBar, SoftKMeans
from emkit.em.checkpoint import CheckpointError, read_checkpoint
from emkit.exceptions import ConvergenceWarning

from .conftest import make_blobs

RUNS = {
    "em": {},
    "squarem": {"accelerate": "squarem"},
    "overrelax": {"accelerate": "overrelax"},
    "incremental": {"schedule": "incremental", "batch_size": 200},
    "stepwise": {"schedule": "stepwise", "batch_size": 150, "tol": 0.0, "max_iter": 12},
}


@pytest.fixture(scope="module")
def slow_data():
    """Overlapping components: EM needs dozens of iterations."""
    return make_blobs((300, 200, 250), seed=1, spread=0.8)


def estimator(**kwargs):
    params = dict(n_components=3, random_state=0, tol=1e-9, max_iter=500)
    params.update(kwargs)
    return GaussianMixture(**params)


class Recorder:
    def __init__(self, stop_at=None):
        self.infos, self.events, self.stop_at = [], [], stop_at

    def start(self, info):
        self.events.append(("start", info.iteration))

    def __call__(self, info):
        self.infos.append(info)
        return self.stop_at is not None and info.iteration >= self.stop_at

    def finish(self, info):
        self.events.append((info.status, info.iteration))


def test_callback_sees_every_iteration_and_can_stop_the_fit(slow_data):
    record = Recorder()
    gm = estimator(callback=record).fit(slow_data)
    assert [i.iteration for i in record.infos] == list(range(1, gm.n_iter_ + 1))
    np.testing.assert_array_equal([i.objective for i in record.infos], gm.lower_bounds_)
    assert np.isnan(record.infos[0].change)
    assert record.infos[3].change == pytest.approx(gm.lower_bounds_[3] - gm.lower_bounds_[2])
    assert record.events == [("start", 0), ("converged", gm.n_iter_)]
    np.testing.assert_array_equal(record.infos[-1].params.means, gm.means_)
    # a view predicts like the estimator with the parameters of that iteration
    view = record.infos[4].estimator_view()
    assert view.n_iter_ == 5 and not view.converged_
    partial = estimator(max_iter=5, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        partial.fit(slow_data)
    assert view.score(slow_data) == pytest.approx(partial.score(slow_data), rel=1e-13)
    assert gm.means_ is not view.means_

    stopper = Recorder(stop_at=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a requested stop is not a failure
        stopped = estimator(callback=[stopper, lambda info: None]).fit(slow_data)
    assert stopped.n_iter_ == 7 and not stopped.converged_
    assert stopper.events[-1] == ("stopped", 7)


def test_warm_start_after_a_stop_continues_plain_em_exactly(slow_data):
    full = estimator().fit(slow_data)
    part = estimator(callback=lambda info: info.iteration >= 6).fit(slow_data)
    part.set_params(callback=None, warm_start=True).fit(slow_data)
    assert part.n_iter_ == full.n_iter_ - 6
    np.testing.assert_allclose(part.means_, full.means_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(part.lower_bounds_, full.lower_bounds_[6:], rtol=1e-12)


@pytest.mark.parametrize("run", list(RUNS))
def test_resume_from_a_checkpoint_equals_the_uninterrupted_fit(run, slow_data, tmp_path):
    kwargs = RUNS[run]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = estimator(**kwargs).fit(slow_data)
        path = tmp_path / "fit.ckpt"
        estimator(**kwargs, checkpoint=path, checkpoint_interval=2,
                  callback=lambda info: info.iteration >= 5).fit(slow_data)
        meta, state = read_checkpoint(path)
        assert meta["schedule"] == run and state.iteration == 5 and not state.converged
        resumed = estimator(**kwargs, checkpoint=path, warm_start=True).fit(slow_data)
    assert full.n_iter_ > 5
    assert resumed.n_iter_ == full.n_iter_ and resumed.converged_ == full.converged_
    for attr in ("weights_", "means_", "covariances_", "lower_bounds_"):
        np.testing.assert_allclose(getattr(resumed, attr), getattr(full, attr),
                                   rtol=1e-10, atol=1e-12)
    assert [p.name for p in tmp_path.iterdir()] == ["fit.ckpt"]  # no temporaries left
    # the finished run's checkpoint gives its result back without iterating
    again = estimator(**kwargs, checkpoint=path, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again.fit(slow_data)
    np.testing.assert_allclose(again.means_, full.means_, rtol=1e-10)


def test_checkpoint_is_written_every_interval_atomically(slow_data, tmp_path):
    path = tmp_path / "fit.ckpt"
    seen = []

    def look(info):
        if os.path.exists(path):
            seen.append((info.iteration, read_checkpoint(path)[1].iteration))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = estimator(checkpoint=str(path), checkpoint_interval=3, max_iter=8, tol=0,
                       callback=look).fit(slow_data)
    assert seen == [(3, 3), (4, 3), (5, 3), (6, 6), (7, 6), (8, 6)]
    meta, state = read_checkpoint(path)  # the end of the run is saved too
    assert state.iteration == 8 and meta["estimator"] == "GaussianMixture"
    np.testing.assert_array_equal(state.params.means, gm.means_)
    np.testing.assert_array_equal(state.history, gm.lower_bounds_)


def test_checkpoint_refuses_other_data_parameters_and_files(slow_data, tmp_path):
    path = tmp_path / "fit.ckpt"
    estimator(checkpoint=path, callback=lambda info: info.iteration >= 3).fit(slow_data)
    with pytest.raises(CheckpointError, match="other data"):
        estimator(checkpoint=path, warm_start=True).fit(slow_data[:-1])
    with pytest.raises(CheckpointError, match="covariance_type='full'"):
        estimator(checkpoint=path, warm_start=True, covariance_type="diag").fit(slow_data)
    with pytest.raises(CheckpointError, match="'em' run"):
        estimator(checkpoint=path, warm_start=True, accelerate="squarem").fit(slow_data)
    weights = np.ones(slow_data.shape[0])
    weights[0] = 2.0
    with pytest.raises(CheckpointError, match="other data"):
        estimator(checkpoint=path, warm_start=True).fit(slow_data, sample_weight=weights)
    bad = tmp_path / "bad.ckpt"
    bad.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad\.ckpt: not an emkit checkpoint"):
        estimator(checkpoint=bad, warm_start=True).fit(slow_data)
    with pytest.raises(ValueError, match=r"folder .* does not exist"):
        estimator(checkpoint=tmp_path / "missing" / "fit.ckpt").fit(slow_data)
    with pytest.raises(ValueError, match="n_init=1"):
        estimator(checkpoint=tmp_path / "x.ckpt", n_init=2).fit(slow_data)
    with pytest.raises(ValueError, match="callback must be a callable"):
        estimator(callback=3).fit(slow_data)


def test_verbose_prints_iteration_objective_change_and_time(slow_data, capsys):
    gm = estimator(verbose=1, verbose_interval=5).fit(slow_data)
    lines = capsys.readouterr().out.splitlines()
    iteration_lines = [line for line in lines if line.strip().startswith("iteration")]
    assert len(iteration_lines) == gm.n_iter_ // 5
    first = iteration_lines[0].split()
    assert first[1] == "5" and float(first[3]) == pytest.approx(gm.lower_bounds_[4], rel=1e-9)
    assert float(first[5]) == pytest.approx(gm.lower_bounds_[4] - gm.lower_bounds_[3],
                                            rel=1e-3)
    assert first[6] == "time" and first[-1] == "s"
    assert lines[0].startswith("Initialization 1/1")
    assert "converged after" in lines[-1]


def test_progress_bar_draws_only_when_asked(slow_data):
    out = io.StringIO()
    gm = estimator(callback=ProgressBar(file=out, disable=False)).fit(slow_data)
    text = out.getvalue()
    assert f"{gm.n_iter_}/500" in text and "converged" in text and "objective" in text
    quiet = io.StringIO()  # not a terminal: tqdm's rule (disable=None) draws nothing
    estimator(callback=ProgressBar(file=quiet)).fit(slow_data)
    assert quiet.getvalue() == ""


def test_centroid_estimators_take_callbacks(slow_data):
    for cls in (KMeans, SoftKMeans, MiniBatchKMeans):
        record = Recorder()
        est = cls(3, random_state=0, callback=record).fit(slow_data)
        assert [i.iteration for i in record.infos] == list(range(1, est.n_iter_ + 1))
        np.testing.assert_array_equal(record.infos[-1].params, est.cluster_centers_)
    stopped = KMeans(3, init="random", n_init=3, random_state=0,
                     callback=lambda info: info.iteration >= 2).fit(slow_data)
    assert stopped.n_iter_ == 2


def test_partial_fit_calls_the_callback_once_per_batch(slow_data, capsys):
    record = Recorder()
    gm = GaussianMixture(3, random_state=0, callback=record, verbose=1)
    for rows in np.array_split(np.arange(slow_data.shape[0]), 3):
        gm.partial_fit(slow_data[rows])
    assert [i.iteration for i in record.infos] == [1, 2, 3]
    assert record.infos[-1].objective == gm.lower_bound_
    assert capsys.readouterr().out.count("partial_fit") == 3
