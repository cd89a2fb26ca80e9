"""What a process killed mid-write leaves on disk, found and removed.

Uploads are received into a folder of their own and blobs copied through a
staging folder; a node killed in the middle leaves a partial file that no
row names, so nothing else would ever delete it (an outside probe found a
pupil's half-sent file there after a restart).
"""

from __future__ import annotations

import shutil
from pathlib import Path


def remove_stale(folder: Path, before_s: float) -> int:
    """Remove the entries of ``folder`` (files, or folders with what they
    hold) in which nothing was written since ``before_s``: what a process
    killed mid-upload or mid-copy left. An upload in progress writes every
    few seconds, so an old enough ``before_s`` never takes one."""
    gone = 0
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            times = [entry.lstat().st_mtime]
            if entry.is_dir() and not entry.is_symlink():
                times += [inner.lstat().st_mtime for inner in entry.rglob("*")]
            latest = max(times)
            if latest >= before_s:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            gone += 1
        except FileNotFoundError:
            continue  # removed meanwhile (its upload ended)
    return gone
