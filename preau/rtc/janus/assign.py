"""Which Janus instance serves a call: rendezvous (highest-random-weight) hashing.

A VideoRoom lives on one Janus: every participant of a call must reach the
same instance. Every node computes the same answer from the call id and the
configured list (``PREAU_JANUS_URLS``) without talking to the others, and
removing an instance moves only the calls it served (adding one moves about
1/n of them). Order and duplicates in the list do not matter.

Caveat, and why it is acceptable: a call that is running while the list
changes may be assigned elsewhere by nodes restarted with the new list, so
the list changes only when no SFU call runs (docs/operations.md, "Janus:
several instances"). Storing each call's instance with the call (so a
running call stays put) is the next step if instances must change by day;
not needed for a list that changes a few times a year.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _weight(call_id: str, url: str) -> int:
    digest = hashlib.blake2b(f"{url}\x00{call_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def assign(call_id: str, urls: Sequence[str]) -> str:
    """The URL of the Janus instance serving ``call_id``."""
    if not urls:
        raise ValueError("no Janus instance configured")
    return max(sorted(set(urls)), key=lambda url: _weight(call_id, url))
