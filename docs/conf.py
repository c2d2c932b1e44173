"""Sphinx configuration of the emkit documentation (``make docs``).

Layout (see CONTRIBUTING.md, "Documentation"):

* ``index.md``: the landing page and the table of contents;
* the guides, markdown files in this folder (MyST), e.g. ``covariance-models.md``;
* ``families/*.md``: one page per model family, picked up by a glob (drop a
  page in to add a family);
* ``examples/plot_*.py``: the gallery, run at build time by sphinx-gallery
  (drop a script in to add an example; keep it to a few seconds);
* ``api.rst``: the API reference, generated from the numpydoc docstrings.

The build treats warnings as errors (``sphinx-build -W``) and needs no
network: no intersphinx, no remote images.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # the working tree, even without an install
os.environ.setdefault("MPLBACKEND", "Agg")

import emkit  # noqa: E402

project = "emkit"
author = "the emkit developers"
copyright = "2026, the emkit developers (BSD-3-Clause)"
release = emkit.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md", "**/README.md", "examples/README.txt",
                    "sg_execution_times.rst"]
templates_path = ["_templates"]

# ---------------------------------------------------------------- API reference
autosummary_generate = True
autodoc_default_options: dict[str, object] = {}  # the class template picks the members
autodoc_typehints = "none"  # the numpydoc "Parameters" sections carry the types
numpydoc_show_class_members = False  # the class template lists the methods
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# ---------------------------------------------------------------------- MyST
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# ----------------------------------------------------------------- gallery
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # every plot_*.py runs at build time
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "abort_on_example_error": True,
    "reference_url": {"emkit": None},
    "doc_module": ("emkit",),
    "backreferences_dir": "generated/backreferences",
}

# -------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"emkit {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False
html_copy_source = False
