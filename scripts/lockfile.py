"""Keep requirements/*.txt (the lock files) honest about what they were made from.

Each lock file starts with a line ``# inputs-sha256: <digest>``: the digest of
the dependency tables of pyproject.toml (requires-python, dependencies,
optional-dependencies, build-system.requires) and of requirements/*.in. When
someone edits a dependency without regenerating the locks, ``check`` says so and
the set-up scripts stop, instead of installing something nobody reviewed.
Standard library only: it runs before any virtualenv exists.

Usage: python3 scripts/lockfile.py digest | check | stamp LOCKFILE...
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("serve", "dev", "docker")
MARK = "# inputs-sha256: "


def digest() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        pyproject = tomllib.load(f)
    project = pyproject.get("project", {})
    inputs = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "build-system": pyproject.get("build-system", {}).get("requires", []),
        "in-files": {
            p.name: p.read_text(encoding="utf-8")
            for p in sorted((ROOT / "requirements").glob("*.in"))
        },
    }
    canonical = json.dumps(inputs, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


def recorded(lock: Path) -> str | None:
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith(MARK):
            return line[len(MARK):].strip()
    return None


def check() -> int:
    want = digest()
    stale = []
    for name in LOCKS:
        lock = ROOT / "requirements" / f"{name}.txt"
        if not lock.exists() or recorded(lock) != want:
            stale.append(str(lock.relative_to(ROOT)))
    if stale:
        print(
            "Préau: the dependency lock does not match pyproject.toml "
            f"({', '.join(stale)} made from other inputs).\n"
            "A dependency was changed without regenerating the lock: run "
            "./scripts/lock (keeps the other pins) and commit requirements/ "
            "in the same commit as pyproject.toml.",
            file=sys.stderr,
        )
        return 1
    return 0


def stamp(paths: list[str]) -> int:
    want = digest()
    for p in paths:
        lock = Path(p)
        lines = [
            line
            for line in lock.read_text(encoding="utf-8").splitlines()
            if not line.startswith(MARK)
        ]
        lock.write_text("\n".join([MARK + want, *lines]) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["digest"]:
        print(digest())
        return 0
    if argv[:1] == ["check"]:
        return check()
    if argv[:1] == ["stamp"] and len(argv) > 1:
        return stamp(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
