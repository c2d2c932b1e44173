"""``import emkit`` and ``emkit --help`` load no heavy dependency; the lazy names resolve.

Start-up *time* is measured in ``benchmarks/import_time.py``, not here: these
tests check what is imported, which is what makes the start fast.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import emkit

HEAVY = ("sklearn", "scipy", "pandas", "matplotlib", "numba", "joblib")
INIT = Path(emkit.__file__)


def _imported_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after running ``code`` in a fresh interpreter."""
    probe = (f"{code}\nimport sys\n"
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(INIT.parent.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


@pytest.mark.parametrize("code", [
    "import emkit",
    "import emkit; emkit.get_config(); emkit.__version__",
    "import emkit.cli",
    # what the console script does for `emkit --help` (argparse exits through SystemExit)
    "import contextlib, io\nfrom emkit.cli import main\n"
    "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
    "    main(['--help'])\n"
    "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
    "    main(['fit', '--help'])",
])
def test_start_up_imports_no_heavy_package(code):
    loaded = _imported_after(code)
    assert "emkit" in loaded  # the probe ran
    assert not loaded & set(HEAVY), f"{code!r} imported {sorted(loaded & set(HEAVY))}"


def test_first_use_imports_what_the_estimator_needs():
    loaded = _imported_after("from emkit import GaussianMixture")
    assert "sklearn" in loaded and "emkit" in loaded


def test_every_public_name_resolves():
    for name in emkit.__all__:
        assert getattr(emkit, name) is not None, name
    from emkit.models.gaussian_mixture import GaussianMixture
    from emkit.selection import select_model

    assert emkit.GaussianMixture is GaussianMixture
    assert emkit.select_model is select_model
    assert set(emkit.__all__) <= set(dir(emkit))


def test_submodules_are_attributes():
    assert emkit.plotting.plot_bic is not None
    assert emkit.exceptions.MonotonicityWarning.__name__ == "MonotonicityWarning"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'emkit' has no attribute 'Gaussian'"):
        emkit.Gaussian  # noqa: B018
    assert not hasattr(emkit, "nope")


def test_type_checking_imports_match_the_lazy_table():
    """Each lazy name has its ``import ... as name`` under TYPE_CHECKING (for type checkers)."""
    tree = ast.parse(INIT.read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and getattr(node.test, "id", None) == "TYPE_CHECKING")
    typed = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        for alias in node.names:
            assert alias.asname == alias.name, f"write `import {alias.name} as {alias.name}`"
            assert node.level == 1, "use a relative import: from .module import Name as Name"
            typed[alias.name] = f"emkit.{node.module}"
    assert set(typed) == set(emkit._LAZY), (
        f"missing under TYPE_CHECKING: {sorted(set(emkit._LAZY) - set(typed))}; "
        f"not in _LAZY: {sorted(set(typed) - set(emkit._LAZY))}")
    for name, module in typed.items():
        assert module == emkit._LAZY[name], (name, module, emkit._LAZY[name])
