"""The documentation site's sources are complete (the build itself is `make docs`)."""

import ast
import re
from pathlib import Path

import emkit

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _api_entries() -> set[str]:
    text = (DOCS / "api.rst").read_text()
    return set(re.findall(r"^   ([A-Za-z_][\w.]*)$", text, flags=re.MULTILINE))


def test_api_reference_lists_every_public_name():
    entries = _api_entries()
    missing = sorted(set(emkit.__all__) - entries - {"__version__"})
    assert not missing, f"add to docs/api.rst: {missing}"


def test_api_reference_entries_exist():
    for entry in _api_entries():
        obj = emkit
        for part in entry.split("."):
            obj = getattr(obj, part)
        assert obj.__doc__, f"{entry} has no docstring"


def test_gallery_examples_have_a_title_and_a_plot():
    examples = sorted((DOCS / "examples").glob("plot_*.py"))
    assert len(examples) >= 5
    for path in examples:
        tree = ast.parse(path.read_text())
        doc = ast.get_docstring(tree)
        assert doc, f"{path.name}: the first docstring is the example's title and text"
        title, underline = doc.splitlines()[:2]
        assert set(underline) == {"="} and len(underline) >= len(title), path.name
        assert "plt.show()" in path.read_text(), f"{path.name} draws no figure"


def test_every_guide_and_family_page_is_reachable():
    index = (DOCS / "index.md").read_text()
    for guide in DOCS.glob("*.md"):
        if guide.stem != "index":
            assert re.search(rf"^{re.escape(guide.stem)}$", index, re.MULTILINE), (
                f"docs/{guide.name} is in no toctree of docs/index.md")
    assert ":glob:" in (DOCS / "families" / "index.md").read_text()
