"""The documents the code cites are in the repository: every ``docs/<name>.md`` citation names a heading that exists.

A citation is ``docs/<name>.md`` followed by section numbers (``docs/method.md 3.7``, ranges ``3.1-3.2`` or
``3.4 to 3.7``, lists ``1.1 and 4`` or ``3.3, 3.4``) or a quoted heading (``docs/install.md "MONAI Label"``); a
numbered heading ``### 3.7 Losses`` answers ``3.7`` and ``"Losses"``. Nothing may cite the project's private design
notes (bare ``method.md``, ``environment.md`` and the like, or the ``shared/`` folder they live in).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve()

#: Where citations are looked for (relative to the repository root).
CITING = ("synfoc_components", "bench", "bundles", "tests", "docs", "README.md")
#: Where nothing may point at the design notes: the citing places and the top-level files.
EVERYWHERE = CITING + (".ci", "pyproject.toml", "requirements.txt", "requirements-dev.txt")
TEXT_SUFFIXES = {".py", ".md", ".json", ".txt", ".toml", ".yml", ".yaml", ".conf", ".cfg", ".sh", ""}
#: Bundle folders that hold produced files (data, weights, reports), not sources.
PRODUCED = ("data", "models", "eval", "dist")

SECTION = r"\d+(?:\.\d+)*"
CITATION = re.compile(
    r"(?<![\w/.-])docs/(?P<doc>[\w-]+)\.md"
    rf'(?:\s+"(?P<heading>[^"]+)"|\s+(?P<sections>{SECTION}(?:\s*(?:-|,|and|to)\s*{SECTION})*))?'
)
HEADING = re.compile(r"^#{1,6}\s+(?P<text>.+?)\s*#*\s*$")
NUMBERED = re.compile(rf"^(?P<number>{SECTION})\.?\s+(?P<title>.+)$")
FORBIDDEN = re.compile(
    r"shared/design|\.\./shared\b"
    r"|(?<![\w/.-])(?:method|environment|monai|field|architecture|real_layouts)\.md\b"
)


def text_files(root: Path, places: tuple[str, ...]) -> Iterator[Path]:
    """Text files under ``places`` of ``root``, without caches and without a bundle's produced folders."""
    for place in places:
        path = root / place
        if path.is_file():
            yield path
            continue
        for file in sorted(path.rglob("*")):
            rel = file.relative_to(root).parts
            if "__pycache__" in rel or (rel[0] == "bundles" and len(rel) > 2 and rel[2].startswith(PRODUCED)):
                continue
            if file.is_file() and file.suffix in TEXT_SUFFIXES:
                yield file


def headings(doc: Path) -> set[str]:
    """Every heading of a markdown file as its full text, and for numbered ones also the number and the title."""
    found, fenced = set(), False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            text = match["text"]
            found.add(text)
            numbered = NUMBERED.match(text)
            if numbered:
                found.update((numbered["number"], numbered["title"]))
    return found


def citations(root: Path) -> list[tuple[str, str, str | None]]:
    """Every citation of a top-level ``docs/*.md`` as ``(where, document, heading or section)``.

    ``docs/README.md`` is left out: the repository has none at the top level, and bundles mean their own.
    """
    found = []
    for file in text_files(root, CITING):
        if file.resolve() == THIS:  # its docstring and checks name citations as examples
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        for match in CITATION.finditer(text):
            if match["doc"] == "README":
                continue
            line = text.count("\n", 0, match.start()) + 1
            where = f"{file.relative_to(root)}:{line}"
            if match["heading"]:
                found.append((where, match["doc"], " ".join(match["heading"].split())))
            elif match["sections"]:
                found += [(where, match["doc"], s) for s in re.findall(SECTION, match["sections"])]
            else:
                found.append((where, match["doc"], None))
    return found


def broken_citations(root: Path) -> list[str]:
    """One line per citation whose document or heading does not exist."""
    problems, cache = [], {}
    for where, doc, target in citations(root):
        path = root / "docs" / f"{doc}.md"
        if not path.is_file():
            problems.append(f"{where}: cites docs/{doc}.md, which does not exist")
            continue
        known = cache.setdefault(doc, headings(path))
        if target is not None and target not in known:
            problems.append(f"{where}: docs/{doc}.md has no heading {target!r}")
    return problems


def design_references(root: Path) -> list[str]:
    """One line per mention of the private design notes or their folder."""
    problems = []
    for file in text_files(root, EVERYWHERE):
        if file.resolve() == THIS:
            continue
        for number, line in enumerate(file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for match in FORBIDDEN.finditer(line):
                problems.append(f"{file.relative_to(root)}:{number}: cites {match.group(0)!r}, which users do not have")
    return problems


def test_every_docs_citation_resolves():
    found = citations(REPO)
    assert len({where for where, _, _ in found}) >= 25, f"only {len(found)} citations found: is the pattern broken?"
    assert {doc for _, doc, _ in found} >= {"method", "install"}
    assert broken_citations(REPO) == []


def test_nothing_cites_the_design_notes():
    assert design_references(REPO) == []


def test_readme_points_at_the_docs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/install.md" in readme and "docs/method.md" in readme


def test_checks_catch_missing_headings_and_design_references(tmp_path):
    (tmp_path / "docs").mkdir()
    method = "# Method\n\n## 3 Training\n\n### 3.7 Losses\n\n```\n# 3.8 not a heading\n```\n"
    (tmp_path / "docs" / "method.md").write_text(method)
    (tmp_path / "docs" / "install.md").write_text("# Installing\n\n## MONAI Label\n")
    code = tmp_path / "synfoc_components"
    code.mkdir()
    (code / "good.py").write_text('"""Losses: docs/method.md 3.7, docs/method.md 3 to 3.7, docs/method.md "Losses"."""')
    (code / "heading.py").write_text('"""Server: docs/install.md "MONAI Label"; bundles/x/docs/README.md."""')
    assert broken_citations(tmp_path) == [] and design_references(tmp_path) == []

    (code / "bad.py").write_text(
        '"""See docs/method.md 3.8, docs/method.md 3.1-3.7, docs/install.md "Install order", docs/setup.md."""\n'
        "# from environment.md and ../shared/design/method.md\n"
    )
    (code / "fenced.py").write_text('"""Code: docs/method.md 3.8 is only inside a code block."""\n')
    assert broken_citations(tmp_path) == [
        "synfoc_components/bad.py:1: docs/method.md has no heading '3.8'",
        "synfoc_components/bad.py:1: docs/method.md has no heading '3.1'",
        "synfoc_components/bad.py:1: docs/install.md has no heading 'Install order'",
        "synfoc_components/bad.py:1: cites docs/setup.md, which does not exist",
        "synfoc_components/fenced.py:1: docs/method.md has no heading '3.8'",
    ]
    assert [p.split(": cites ")[1].split(",")[0] for p in design_references(tmp_path)] == [
        "'environment.md'",
        "'../shared'",
    ]
