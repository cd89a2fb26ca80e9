"""The dependency lock (requirements/*.txt): complete, exact, hashed, honest
about its inputs, and used by every install (docs/decisions.md, "Locked installs")."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("dev", "serve", "docker")
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ \\;]+)")


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / f"{lock}.txt").read_text(encoding="utf-8")
    return {
        m[1].lower().replace("_", "-"): m[2]
        for m in (PIN.match(line) for line in text.splitlines()) if m
    }


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower().replace("_", "-")
            for r in requirements}


def check(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(tree / "scripts" / "lockfile.py"), "check"],
                          capture_output=True, text=True, timeout=30)


def copy_of_the_inputs(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    shutil.copy(ROOT / "scripts" / "lockfile.py", tree / "scripts" / "lockfile.py")
    shutil.copytree(ROOT / "requirements", tree / "requirements")
    return tree


def test_the_lock_matches_pyproject() -> None:
    done = check(ROOT)
    assert done.returncode == 0, done.stderr


def test_a_dependency_changed_without_the_lock_is_refused_with_a_clear_message(
    tmp_path: Path,
) -> None:
    tree = copy_of_the_inputs(tmp_path)
    assert check(tree).returncode == 0
    pyproject = tree / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"orjson>=3.10",', '"orjson>=3.11",'))
    done = check(tree)
    assert done.returncode == 1
    assert "./scripts/lock" in done.stderr
    assert "pyproject.toml" in done.stderr
    # Tool settings are not dependencies: editing them needs no new lock.
    tree = copy_of_the_inputs(tmp_path / "again")
    pyproject = tree / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("line-length = 100", "line-length = 99"))
    assert check(tree).returncode == 0


@pytest.mark.parametrize("lock", LOCKS)
def test_every_line_is_exact_and_hashed_and_names_no_registry(lock: str) -> None:
    text = (ROOT / "requirements" / f"{lock}.txt").read_text(encoding="utf-8")
    assert "://" not in text  # names, versions and hashes only
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 3)[-1])
    for entry in entries:
        if entry.startswith("#") or not entry.strip():
            continue
        assert PIN.match(entry), entry
        assert "--hash=sha256:" in entry, entry


def test_every_declared_dependency_is_locked_the_others_agree_with_dev() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {
        "serve": requirement_names(project["dependencies"]),
        "dev": requirement_names(project["dependencies"] + extras["dev"]),
        "docker": requirement_names(
            project["dependencies"] + extras["postgres"] + extras["sfu"]),
    }
    dev = pins("dev")
    for lock in LOCKS:
        locked = pins(lock)
        assert wanted[lock] <= set(locked), wanted[lock] - set(locked)
        assert "setuptools" in locked  # the build backend of the editable install
        # What production runs is what the tests ran.
        assert {name: dev[name] for name in locked} == locked


def test_pycrdt_is_pinned_exactly_in_pyproject_too() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [pycrdt] = [d for d in project["dependencies"] if d.startswith("pycrdt")]
    assert pycrdt == f"pycrdt=={pins('dev')['pycrdt']}"


def test_every_install_uses_the_lock() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "--require-hashes" in bootstrap
    assert "lockfile.py\" check" in bootstrap
    assert "bootstrap_venv serve" in (ROOT / "scripts" / "serve").read_text()
    assert "bootstrap_venv dev" in (ROOT / "scripts" / "test").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes --no-deps -r requirements/docker.txt" in dockerfile
    assert "exec ./scripts/test" in (ROOT / ".ci" / "run").read_text()
