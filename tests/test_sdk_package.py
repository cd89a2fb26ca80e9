"""The Python SDK (clients/python) is a package of its own: it builds and
installs alone, ships its type information, and imports nothing of the server."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SDK = Path(__file__).resolve().parents[1] / "clients" / "python"
SERVER_PACKAGES = {"preau", "server", "collab", "rtc", "loadtests", "tests"}


def test_the_sdk_imports_nothing_of_the_server() -> None:
    for path in sorted((SDK / "preau_client").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in SERVER_PACKAGES, f"{path.name} imports {name}"


def test_the_sdk_installs_on_its_own_with_its_types(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(SDK)],
        check=True, capture_output=True, timeout=120, cwd=tmp_path,
    )
    assert (target / "preau_client" / "py.typed").exists()
    assert (target / "preau_client" / "peer.py").exists()
    # Imported from the installed copy alone (its dependencies come from this
    # environment; the repository is not on the path).
    probe = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys; sys.path.insert(0, sys.argv[1]); import preau_client, preau_client.peer;"
         " assert 'server' not in sys.modules; print(preau_client.__file__)", str(target)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith(str(target))
