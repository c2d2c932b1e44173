"""Every Python code block of README.md and docs/*.md runs, without a warning.

Blocks fenced as ``python`` are executed; blocks fenced as ``pycon`` (``>>>``
prompts with the output below them) are run as doctests, so the printed output
shown in the document is checked too.  The blocks of one document share a
namespace, in order, as a reader would run them.  A block whose fence is
preceded by the line ``<!-- not-runnable -->`` is skipped (keep those few: a
snippet that needs files or services the test cannot provide).  The blocks run
in a temporary directory (what they write lands there), with matplotlib's Agg
backend, and any warning is an error: examples must run cleanly.
"""

from __future__ import annotations

import doctest
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "docs" / "families").glob("*.md"))]
SKIP_MARK = "<!-- not-runnable -->"
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")


def code_blocks(text: str) -> list[tuple[int, str, str, bool]]:
    """``(line number, language, code, skipped)`` of every fenced block."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, language = match["fence"], match["info"].strip().split(" ")[0]
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(match["indent"]):])
            i += 1
        previous = next((lines[j].strip() for j in range(start - 1, -1, -1)
                         if lines[j].strip()), "")
        blocks.append((start + 1, language, "\n".join(body) + "\n", previous == SKIP_MARK))
        i += 1
    return blocks


def test_code_blocks_are_found():
    text = ("intro\n```python\nx = 1\n```\n<!-- not-runnable -->\n\n```python\nboom()\n```\n"
            "```sh\nls\n```\n```pycon\n>>> 1 + 1\n2\n```\n")
    assert code_blocks(text) == [(2, "python", "x = 1\n", False),
                                 (7, "python", "boom()\n", True),
                                 (10, "sh", "ls\n", False),
                                 (13, "pycon", ">>> 1 + 1\n2\n", False)]


def _run_python(code: str, namespace: dict, where: str) -> None:
    exec(compile(code, where, "exec"), namespace)


def _run_pycon(code: str, namespace: dict, where: str) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(code, namespace, where, where, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append, clear_globs=False)
    if runner.failures:
        raise AssertionError(f"{where}: the output differs from the document:\n"
                             + "".join(report))


def _with_python(documents: list[Path]) -> list[Path]:
    return [d for d in documents
            if any(lang in ("python", "pycon") for _, lang, _, _ in code_blocks(d.read_text()))]


def test_the_readme_and_guides_have_code_to_run():
    names = {d.name for d in _with_python(DOCUMENTS)}
    assert {"README.md", "model-selection.md", "index.md"} <= names, names


@pytest.mark.slow
@pytest.mark.parametrize("document", _with_python(DOCUMENTS),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_document_code_runs(document: Path, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    runnable = [b for b in code_blocks(document.read_text()) if b[1] in ("python", "pycon")]
    namespace: dict = {"__name__": "__doc_snippet__"}
    try:
        for line, language, code, skipped in runnable:
            if skipped:
                continue
            where = f"{document.relative_to(ROOT)}:{line}"
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                if language == "pycon":
                    _run_pycon(code, namespace, where)
                else:
                    _run_python(code, namespace, where)
    finally:
        plt.close("all")


def test_few_blocks_are_marked_not_runnable():
    skipped = [f"{doc.name}:{line}" for doc in DOCUMENTS
               for line, language, _, skip in code_blocks(doc.read_text())
               if skip and language in ("python", "pycon")]
    assert len(skipped) <= 3, f"too many blocks marked not runnable: {skipped}"
