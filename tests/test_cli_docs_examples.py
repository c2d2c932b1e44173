"""The command-line examples of docs/cli.md's section on hidden Markov models, mixed
columns and probit regression run, on the files its Python block writes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from emkit.cli import main

from .test_doc_snippets import code_blocks

CLI_DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
SECTION = "## Hidden Markov models, mixed columns, probit regression"


def section_blocks() -> list[tuple[str, str]]:
    text = CLI_DOC.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return [(language, code) for _, language, code, _ in code_blocks(text[start:end])]


def commands(code: str) -> list[list[str]]:
    """The `emkit ...` commands of a shell block (backslash continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [shlex.split(line)[1:] for line in joined.splitlines()
            if line.startswith("emkit ")]


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_the_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = section_blocks()
    assert [language for language, _ in blocks] == ["python", "sh", "sh", "sh"]
    exec(compile(blocks[0][1], str(CLI_DOC), "exec"), {})
    ran = 0
    for _, code in blocks[1:]:
        for argv in commands(code):
            code_ = main(argv)
            assert code_ == 0, (argv, capsys.readouterr().err)
            ran += 1
    assert ran == 10
    assert (tmp_path / "states.csv").read_text().startswith("run,state,p0,p1\na,")
    assert "group care      poisson (visits)" in capsys.readouterr().out
