"""The open-file limit of a serving node: every socket is a file.

Linux gives a process a soft limit (often 1,024) under a hard one (often
524,288 under systemd); Python and uvicorn keep the soft one, so a node
would refuse its 1,025th connection with "Too many open files" while the
machine could hold tens of thousands. ``preau serve`` raises the soft limit
to the hard one at start, as Go's runtime and nginx's
``worker_rlimit_nofile`` do, and warns when even that leaves room for fewer
connections than a school's surge needs (docs/operations.md, "Open files").
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

# Below this, the node warns: a collège of 800 with families is ~2,500 sockets
# at the evening peak, and a node usually serves several schools.
FEW_OPEN_FILES = 8_192
CEILING = 1 << 20  # when the hard limit is unlimited


def raise_open_files_limit() -> int:
    """Raise the soft open-file limit to the hard one; return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit from %d to %d", soft, target)
    limit = CEILING if soft == resource.RLIM_INFINITY else soft
    if limit < FEW_OPEN_FILES:
        log.warning(
            "at most %d open files: this node can hold fewer than %d connections;"
            " raise its limit (LimitNOFILE= in the systemd unit, ulimit -n, or the"
            " container's nofile) — docs/operations.md, \"Open files\"", limit, limit)
    return limit
