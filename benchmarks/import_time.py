"""Start-up time: ``import emkit`` and ``emkit --help``, and what they import.

Run from the repository root (any interpreter that can import emkit)::

    .venv/bin/python benchmarks/import_time.py             # 5 runs of each, medians
    .venv/bin/python benchmarks/import_time.py --repeats 15 --top 15

Each measurement is a fresh interpreter (``subprocess``), so nothing is
cached in the process; files are in the OS page cache after the first
(untimed) warm-up run, as they are for a user who runs the command twice.
Three numbers per command:

* ``wall``: the median wall-clock seconds of the whole process (interpreter
  start-up included), the figure a user waits for;
* ``imports``: the median cumulative time of the imports that command does,
  from ``python -X importtime`` (the interpreter's own start-up excluded);
* the packages that took the most time (their modules' own import times
  added up, from one ``-X importtime`` run), and whether scikit-learn, SciPy, pandas,
  matplotlib, numba or joblib were imported at all.

``emkit --help`` is run as the console script does (``from emkit.cli import
main``), and as ``python -m emkit --help``.  The target (issue 15) is under
0.5 s for both ``import emkit`` and ``emkit --help`` on the 2-core reference
machine; the script prints PASS / FAIL against it but the figure depends on
the machine and its load, so it is measured here, never asserted in a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

TARGET_SECONDS = 0.5
HEAVY = ("sklearn", "scipy", "pandas", "matplotlib", "numba", "joblib")
COMMANDS = {
    "import emkit": ["-c", "import emkit"],
    "emkit --help": ["-c", "import sys; from emkit.cli import main; "
                           "sys.argv = ['emkit', '--help']; main()"],
    "python -m emkit --help": ["-m", "emkit", "--help"],
}


def _run(args: Sequence[str], importtime: bool = False) -> tuple[float, str]:
    """Wall seconds of one fresh interpreter, and its stderr (the -X importtime table)."""
    flags = ["-X", "importtime"] if importtime else []
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *flags, *args], capture_output=True, text=True,
                          env=os.environ.copy(), check=False)
    seconds = time.perf_counter() - start
    # `--help` exits with status 0 through argparse's SystemExit
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr}")
    return seconds, done.stderr


def parse_importtime(text: str) -> list[tuple[int, int, int, str]]:
    """Rows ``(self_us, cumulative_us, depth, module)`` of a ``-X importtime`` table.

    ``depth`` 0 is a module imported by the command itself, 1 one imported by
    such a module, and so on (the table indents names by two spaces a level).
    """
    rows = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((int(self_us), int(cumulative), depth, name.strip()))
    return rows


def _by_package(rows: list[tuple[int, int, int, str]]) -> dict[str, int]:
    """Microseconds spent in each top-level package's own modules (self times summed).

    The self times partition the whole import time, so the figures add up.
    """
    totals: dict[str, int] = {}
    for self_us, _, _, name in rows:
        package = name.split(".")[0]
        totals[package] = totals.get(package, 0) + self_us
    return totals


def measure(label: str, args: Sequence[str], repeats: int, top: int) -> float:
    _run(args)  # warm-up: page cache, numba / bytecode caches
    walls, imports = [], []
    for _ in range(repeats):
        walls.append(_run(args)[0])
        rows = parse_importtime(_run(args, importtime=True)[1])
        imports.append(sum(c for _, c, depth, _ in rows if depth == 0) / 1e6)
    rows = parse_importtime(_run(args, importtime=True)[1])
    imported = {name.split(".")[0] for *_, name in rows}
    heavy = [h for h in HEAVY if h in imported]
    wall = statistics.median(walls)
    verdict = "PASS" if wall < TARGET_SECONDS else "FAIL"
    print(f"{label:<24} wall {wall:6.3f} s (min {min(walls):.3f}, max {max(walls):.3f})   "
          f"imports {statistics.median(imports):6.3f} s   "
          f"target < {TARGET_SECONDS} s: {verdict}")
    print(f"{'':<24} heavy packages imported: {', '.join(heavy) if heavy else 'none'}")
    ranked = sorted(_by_package(rows).items(), key=lambda kv: -kv[1])[:top]
    print(f"{'':<24} time by package (ms, self): "
          + ", ".join(f"{name} {us / 1e3:.0f}" for name, us in ranked))
    return wall


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (default 5)")
    parser.add_argument("--top", type=int, default=6,
                        help="how many of the heaviest imports to list (default 6)")
    args = parser.parse_args(argv)
    import emkit

    print(f"python {sys.version.split()[0]} ({sys.executable}); emkit {emkit.__version__} "
          f"from {os.path.dirname(emkit.__file__)}; {os.cpu_count()} CPUs; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    baseline = statistics.median(_run(["-c", "pass"])[0] for _ in range(args.repeats))
    print(f"{'python -c pass':<24} wall {baseline:6.3f} s (the interpreter alone)")
    for label, command in COMMANDS.items():
        measure(label, command, args.repeats, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
