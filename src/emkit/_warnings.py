"""Warnings that point at the user's line, wherever inside emkit they are raised.

A fixed ``stacklevel`` is right for one call path only: the same EM code runs
under ``GaussianMixture.fit``, ``GaussianMixtureImputer.fit`` (which fits a
GaussianMixture), ``select_model``, scikit-learn's ``Pipeline`` and so on.
:func:`external_stacklevel` counts the frames instead, so the warning is
attributed to the first frame that is neither emkit nor scikit-learn (which
calls estimators on the user's behalf): the line the user wrote.
"""

from __future__ import annotations

import os
import sys

_EMKIT_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _skipped_dirs() -> tuple[str, ...]:
    dirs = [_EMKIT_DIR]
    sklearn = sys.modules.get("sklearn")
    if sklearn is not None and getattr(sklearn, "__file__", None):
        dirs.append(os.path.dirname(os.path.abspath(sklearn.__file__)) + os.sep)
    return tuple(dirs)


def external_stacklevel() -> int:
    """``stacklevel`` for :func:`warnings.warn` that names the caller outside emkit.

    Call it as the ``stacklevel=`` argument of ``warnings.warn`` (so that the
    function calling ``warn`` is level 1).  Frames in emkit's and in
    scikit-learn's source directories are skipped; if nothing is left (a
    worker thread, say) the outermost frame is named.
    """
    skipped = _skipped_dirs()
    frame = sys._getframe(1)  # the function that calls warnings.warn
    level = 1
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(
            skipped):
        frame = frame.f_back
        level += 1
    return level
