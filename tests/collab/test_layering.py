"""collab/ stays free of the web framework, the drivers and the server (DESIGN.md §2)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

COLLAB = Path(__file__).resolve().parents[2] / "preau" / "collab"
FORBIDDEN = ("starlette", "uvicorn", "redis", "asyncpg", "sqlite3", "websockets",
             "preau.server")


@pytest.mark.parametrize("path", sorted(COLLAB.glob("*.py")), ids=lambda p: p.name)
def test_collab_imports_nothing_of_the_host(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.level == 0]
    bad = [name for name in imported
           if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == [], f"{path.name} imports {bad}"
