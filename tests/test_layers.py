"""The layers of docs/architecture.md, as import-linter checks them (pyproject.toml,
``[tool.importlinter]``; scripts/test runs ``lint-imports``).

The real tree keeps every contract; a copy of it with one deliberately wrong
import breaks the contract that forbids it — so the linter really looks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONFIG = ROOT / "pyproject.toml"

# The packages where pure domain modules (records and rules) sit beside services.
MIXED = ("preau.server.directory", "preau.server.documents", "preau.server.moderation")
DOMAIN = {
    "preau.server.directory.model", "preau.server.directory.rules",
    "preau.server.directory.quiet_hours", "preau.server.documents.model",
    "preau.server.moderation.rules", "preau.server.moderation.wordfilter",
}


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd), "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(cwd / "pyproject.toml")],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def _contracts() -> list[dict[str, object]]:
    with CONFIG.open("rb") as f:
        contracts: list[dict[str, object]] = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    return contracts


def test_the_real_tree_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        # The fan-out reaching up into the gateway (what issue 17 removed).
        ("preau/server/live/events.py", "import preau.server.gateway.endpoint",
         "the live fan-out imports no service, gateway or HTTP layer"),
        # A service reaching up into the HTTP layer.
        ("preau/server/chat/render.py", "import preau.server.http.middleware",
         "services import no gateway, HTTP layer or composition root"),
        # The documents core knowing the server.
        ("preau/collab/codec.py", "import preau.server.errors",
         "collab/ and rtc/ import nothing of server/"),
    ],
)
def test_a_wrong_import_breaks_its_contract(
    tmp_path: Path, module: str, wrong_import: str, contract: str
) -> None:
    shutil.copytree(ROOT / "preau", tmp_path / "preau",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONFIG, tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{wrong_import}  # deliberately wrong\n")

    result = _lint(tmp_path)

    assert result.returncode != 0, result.stdout
    assert f"{contract} BROKEN" in result.stdout


def test_every_service_module_of_the_mixed_packages_is_forbidden_below() -> None:
    """A new module in directory/, documents/ or moderation/ is a service (kept
    out of the store and the live fan-out) unless it is listed as pure domain."""
    forbidden_below = [
        set(c["forbidden_modules"])  # type: ignore[call-overload]
        for c in _contracts()
        if c["source_modules"] in (["preau.server.live"], ["preau.server.store"])
    ]
    assert len(forbidden_below) == 2
    for package in MIXED:
        folder = ROOT / package.replace(".", "/")
        for path in sorted(folder.glob("*.py")):
            if path.stem == "__init__":
                continue
            name = f"{package}.{path.stem}"
            if name in DOMAIN:
                continue
            for forbidden in forbidden_below:
                assert name in forbidden, f"{name}: a service? list it in pyproject.toml"
