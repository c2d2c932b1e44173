"""Open the built documentation in headless Chromium and check that it renders.

Run after ``make docs`` (``make docs-check`` does both)::

    apt-get install -y chromium            # once: Debian's package
    .venv/bin/python docs/check_render.py  # default: docs/_build/html
    .venv/bin/python docs/check_render.py --screenshot /tmp/emkit-docs.png

For each page checked (the index, the gallery, one example and one API page) the
browser loads the file, runs its scripts and prints the resulting DOM
(``--dump-dom``); the check passes when the DOM has the page's title, the
theme's navigation bar and the page's own content (for the example, its
rendered figure).  ``--screenshot`` also saves a PNG of the index page to look
at.  Chromium runs with no network, no sandbox (root in a container), no GPU,
and a fresh empty profile that is deleted afterwards.

Exit status: 0 when every page renders, 1 when one does not, 2 when the
browser or the build is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


@dataclass(frozen=True)
class Page:
    """A built page and the strings its rendered DOM must contain."""

    path: str
    expected: tuple[str, ...]


PAGES = (
    Page("index.html", ("<title>emkit", 'class="bd-header', "Latent-variable models fitted by",
                        "Getting started", "API reference")),
    Page("auto_examples/index.html", ("<title>Examples", "Choosing the number of components",
                                      "SQUAREM against plain EM")),
    Page("auto_examples/plot_clustering_ellipses.html",
         ("<title>Clustering Old Faithful", 'class="sphx-glr-single-img',
          "sphx_glr_plot_clustering_ellipses_001.png")),
    Page("generated/emkit.GaussianMixture.html",
         ("<title>GaussianMixture", "covariance_type", "Methods", "predict_proba")),
)


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def run_browser(browser: str, args: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """One headless run with a throw-away profile."""
    with tempfile.TemporaryDirectory(prefix="emkit-chromium-") as profile:
        command = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False, env={**os.environ, "HOME": profile})


def check_page(browser: str, build: Path, page: Page, timeout: float) -> list[str]:
    """Problems found on one page (empty when it renders)."""
    target = build / page.path
    if not target.is_file():
        return [f"{page.path}: not built ({target} is missing)"]
    done = run_browser(browser, ["--virtual-time-budget=5000", "--dump-dom",
                                 target.as_uri()], timeout)
    if done.returncode != 0:
        return [f"{page.path}: chromium exited with status {done.returncode}: "
                f"{done.stderr.strip()[-500:]}"]
    dom = done.stdout
    missing = [text for text in page.expected if text not in dom]
    return [f"{page.path}: rendered DOM ({len(dom)} characters) lacks {text!r}"
            for text in missing]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", nargs="?", default=str(HERE / "_build" / "html"),
                        help="the built HTML (default: docs/_build/html)")
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="also save a screenshot of the index page")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds per browser run (default 120)")
    args = parser.parse_args(argv)
    build = Path(args.build)
    browser = find_browser()
    if browser is None:
        print("check_render: no Chromium found; install Debian's package: "
              "apt-get install -y chromium", file=sys.stderr)
        return 2
    if not (build / "index.html").is_file():
        print(f"check_render: {build / 'index.html'} does not exist; run `make docs` first",
              file=sys.stderr)
        return 2
    problems, rendered = [], 0
    for page in PAGES:
        found = check_page(browser, build, page, args.timeout)
        print(f"{'FAIL' if found else 'ok  '} {page.path}")
        problems += found
        rendered += not found
    if args.screenshot:
        shot = Path(args.screenshot).resolve()
        done = run_browser(browser, ["--window-size=1280,900", "--hide-scrollbars",
                                     f"--screenshot={shot}",
                                     (build / "index.html").resolve().as_uri()], args.timeout)
        if done.returncode != 0 or not shot.is_file():
            problems.append(f"screenshot failed: {done.stderr.strip()[-500:]}")
        else:
            print(f"wrote {shot}")
    for problem in problems:
        print(f"check_render: {problem}", file=sys.stderr)
    version = subprocess.run([browser, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    print(f"{rendered} of {len(PAGES)} pages render ({version})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
