"""Test-suite wide settings: EM runs in strict mode (a decreasing objective raises)."""

import ast
import warnings

import numpy as np
import pytest

import emkit


@pytest.fixture(autouse=True)
def strict_monotonic():
    with emkit.config_context(monotonic="raise"):
        yield


def make_blobs(n_per=(150, 100, 120), dim=3, seed=0, spread=3.0):
    """Overlapping anisotropic Gaussian blobs (deterministic)."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, n in enumerate(n_per):
        A = rng.normal(size=(dim, dim)) * 0.6 + np.eye(dim) * (0.5 + 0.3 * k)
        center = rng.normal(size=dim) * spread
        parts.append(center + rng.normal(size=(n, dim)) @ A.T)
    return np.vstack(parts)


@pytest.fixture
def blobs():
    return make_blobs()


# ---------------------------------------------------------------------------
# `slow` marker: what `make test-quick` (pytest -m "not slow") leaves out.
# Whole modules, and single tests by "file::function" (every parametrisation).
# A test can also carry @pytest.mark.slow itself.  Measured with
# `pytest -n 2 --durations=0`: these are ~92% of the suite's time.
SLOW_MODULES = frozenset({
    "test_mclust_parity",       # R parity grid: 14 models x G = 1..9 x 5 data sets
    "test_selection_mclust",    # whole mclustBIC selections against R
    "test_properties",          # hypothesis over every covariance model
    "test_estimator_checks",    # scikit-learn's check_estimator suite
    "test_doc_snippets",        # every code block of README.md and docs/*.md
    "test_cli",                 # `python -m emkit` in subprocesses
    "test_cli_select",          # same
    "test_variants_sparse",     # sparse EM on every model, family and option
    "test_variants_conditional",  # every variant x conditional family
    "test_missing_kernel",      # the missing-value kernel on all 14 models
})
SLOW_TESTS = frozenset({
    "test_priors.py::test_map_m_step_maximises_the_expected_log_posterior",
    "test_decomposed.py::test_em_fit_is_a_stationary_point_of_the_likelihood",
    "test_decomposed.py::test_m_step_maximises_q_over_the_model",
    "test_missing.py::test_single_gaussian_matches_direct_maximisation_of_observed_likelihood",
    "test_cli_impute_score.py::test_impute_writes_the_completed_csv",
    "test_cli_impute_score.py::test_fit_a_detector_then_score_new_rows",
    "test_cli_impute_score.py::test_score_with_a_gaussian_mixture_and_a_density_threshold",
    "test_cli_impute_score.py::test_bad_input_in_a_subprocess",
    "test_selection.py::test_n_jobs_gives_the_same_results_as_sequential",
    "test_initial_partitions.py::test_hierarchical_init_on_large_data_starts_from_a_subset_fit",
    "test_lazy_imports.py::test_first_use_imports_what_the_estimator_needs",
    # the four longest of the rest (whole EM fits for every model / pattern)
    "test_decomposed.py::test_fitted_covariances_have_the_model_structure",
    "test_accelerate.py::test_regularised_m_step_stays_monotone_with_its_allowance",
    "test_accelerate.py::test_reaches_the_plain_em_fixed_point_with_fewer_em_maps",
    "test_missing.py::test_mixture_with_missing_values_is_monotone_and_scores_marginals",
    # reference parity against R fixtures (whole EM runs per K)
    "test_categorical.py::test_matches_the_r_reference_on_haireyecolor",
    "test_bernoulli.py::test_matches_flexmix_on_whiskey_from_the_same_partition",
    "test_poisson.py::test_matches_flexmix_on_dmft_from_the_same_partition",
    "test_selection_generic.py::test_covariance_types_become_columns_and_parallel_cells_agree",
    # peers in the same process (pomegranate imports torch: seconds per worker)
    "test_categorical.py::test_converged_log_likelihood_is_at_least_stepmix_and_pomegranate",
    "test_poisson.py::test_converged_log_likelihood_is_at_least_pomegranates",
    "test_regression_mixture.py::test_npreg_gaussian_is_the_ml_fixed_point_not_flexmix_s",
    "test_regression_mixture.py::test_matches_mixtools_regmixem_on_nodata",
    "test_cli_sources.py::test_fit_on_a_dask_cluster_equals_the_local_fit",
    "test_cli_sources.py::test_an_unreachable_dask_scheduler_is_one_line",
    # sweeps over threads, models or many fits
    "test_engine.py::test_results_do_not_depend_on_the_number_of_threads",
    "test_online.py::test_incremental_em_ends_at_the_batch_em_fixed_point",
    "test_online.py::test_minibatch_kmeans_is_a_scikit_learn_estimator",
    "test_selection.py::test_prior_is_passed_to_every_cell",
    "test_hmm.py::test_direct_maximisation_finds_no_improvement",
    "test_cli_fuzz.py::test_random_csv_files",
    "test_decomposed.py::test_univariate_models_equal_their_multivariate_forms",
})


def pytest_collection_modifyitems(config, items):
    seen_files, found = set(), set()
    for item in items:
        path = item.path
        key = f"{path.name}::{getattr(item, 'originalname', item.name)}"
        seen_files.add(path.name)
        if path.stem in SLOW_MODULES or key in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
            found.add(key)
    stale = sorted(k for k in SLOW_TESTS
                   if k.split("::")[0] in seen_files and k not in found)
    whole_files = not any("::" in arg for arg in config.args)
    if (stale and whole_files and not config.getoption("keyword")
            and not config.getoption("markexpr")):
        # a warning, not an error: a renamed test must not break a merge, but say so
        warnings.warn(pytest.PytestConfigWarning(
            f"tests/conftest.py SLOW_TESTS names tests that no longer exist: {stale}"),
            stacklevel=1)


def _module_is_slow(path) -> bool:
    """Whether a test file is slow as a whole (SLOW_MODULES, or a module-level
    ``pytestmark`` with ``pytest.mark.slow``), read without importing it."""
    if path.stem in SLOW_MODULES:
        return True
    text = path.read_text(encoding="utf-8")
    if "pytestmark" not in text or "mark.slow" not in text:
        return False
    for node in ast.parse(text).body:
        if (isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "pytestmark" for t in node.targets)):
            return "mark.slow" in ast.unparse(node.value)
    return False


def pytest_ignore_collect(collection_path, config):
    """`pytest -m "not slow"` (make test-quick) does not even import the slow modules:
    importing them (Dask, R fixtures, hypothesis strategies) was a third of the
    quick run's time."""
    if (config.getoption("markexpr") == "not slow" and collection_path.suffix == ".py"
            and collection_path.name.startswith("test_") and _module_is_slow(collection_path)):
        return True
    return None
