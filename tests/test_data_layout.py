"""The rooms of ``synfoc_components.data``: what each may import, and the torch-free start of the data CLI.

``preparation`` (offline) and ``demo`` never need torch, so ``python -m synfoc_components.data prepare ...`` starts
without it; a module of ``loading`` (torch and MONAI) is imported on first use of one of its names. Arrows between the
rooms run one way: ``demo`` -> ``preparation``, ``loading`` -> ``preparation.formats``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import synfoc_components.data as data

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "synfoc_components"
DATA = PACKAGE / "data"

#: What the modules of each room may import from ``synfoc_components`` (module name prefixes).
ALLOWED = {
    "preparation": ("synfoc_components.data.preparation", "synfoc_components.data.errors",
                    "synfoc_components.data.descriptions", "synfoc_components.data.registry", "synfoc_components.io"),
    "demo": ("synfoc_components.data.demo", "synfoc_components.data.preparation", "synfoc_components.data.errors",
             "synfoc_components.data.descriptions", "synfoc_components.data.registry", "synfoc_components.io"),
    "loading": ("synfoc_components.data.loading", "synfoc_components.data.preparation.formats",
                "synfoc_components.data.errors", "synfoc_components.error_report"),
}  # fmt: skip


def own_imports(path: Path) -> set[str]:
    """The ``synfoc_components`` modules that ``path`` imports, relative imports resolved."""
    package = ".".join(path.relative_to(REPO).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            relative = ".".join(n for n in (base, node.module) if n)
            found.add(relative if node.level else node.module or "")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "synfoc_components"}


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_rooms_import_only_downwards(room: str) -> None:
    files = sorted((DATA / room).rglob("*.py"))
    assert files, f"no modules in data/{room}"
    wrong = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in files
        for name in sorted(own_imports(path))
        if not name.startswith(ALLOWED[room])
    ]
    assert not wrong, "\n".join(wrong)


def test_the_data_cli_starts_without_torch() -> None:
    heavy = "('torch', 'monai')"
    code = (
        "import sys, synfoc_components.data, synfoc_components.data.__main__, synfoc_components.data.demo; "
        f"print(sorted(m for m in sys.modules if m in {heavy} or m.startswith('synfoc_components.data.loading.')))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_public_names_resolve() -> None:
    """Every name of ``synfoc_components.data.__all__`` resolves, the loading room's from that room."""
    from synfoc_components.data import loading

    for name in data.__all__:
        assert getattr(data, name) is not None, name
    for name in loading.__all__:
        assert getattr(data, name) is getattr(loading, name), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        data.nope  # noqa: B018
