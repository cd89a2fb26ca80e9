"""A replica's state vector as a dict, read again only where it changed.

The room checks every update against its replica's state vector (client →
next clock: preau/collab/integrity.py). yrs gives it encoded (``get_state``,
in C), and reading it in Python costs about 1.7 µs per client. A document
collects a client id for every editor session that ever typed in it (Yjs
picks a new one at each page load), so a class's document used through a
term holds hundreds, and reading them all for every keystroke cost 3.4 ms
with 1,000 (docs/benchmarks.md).

Between two keystrokes the encoded vector differs in one clock, at the same
place: yrs keeps the vector in a hash map and encodes it in the map's order,
which a changed value does not move. :class:`StateVectorReader` keeps the
last vector it read, with where each pair starts, finds the bytes that
differ (slice comparisons, in C, halving the range each time), reads only
the pairs those bytes fall in, and keeps the rest. Whenever the layout does
not line up (a client added, the order changed, another document's vector)
it reads the whole vector, so what it returns is always exactly
:func:`preau.collab.updates.read_state_vector` of what it was given.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from preau.collab.codec import CodecError, Reader
from preau.collab.updates import read_state_vector

# A vector shorter than this (bytes; about ten clients) is read whole: that
# costs less than finding what changed.
WHOLE_BELOW = 128


class StateVectorReader:
    """``read(encoded)`` as ``read_state_vector(encoded)``; the dict it
    returns is its own and changes with the next read: do not modify it."""

    __slots__ = ("_clients", "_clocks", "_encoded", "_starts", "pairs_read", "whole_below")

    def __init__(self, whole_below: int = WHOLE_BELOW) -> None:
        self.whole_below = whole_below
        self._encoded = b""
        self._clocks: dict[int, int] = {}
        self._starts: list[int] = []  # offset of each client/clock pair
        self._clients: list[int] = []  # the client of each pair
        self.pairs_read = 0  # client/clock pairs decoded so far (for the tests)

    def read(self, encoded: bytes) -> dict[int, int]:
        old = self._encoded
        if encoded == old:
            return self._clocks
        if len(encoded) < self.whole_below:
            self._clocks = read_state_vector(encoded)
            self._starts, self._clients = [], []
            self.pairs_read += len(self._clocks)
        elif not self._starts or not self._read_changed(encoded, old):
            self._read_all(encoded)
        self._encoded = encoded
        return self._clocks

    def _read_all(self, encoded: bytes) -> None:
        reader = Reader(encoded)
        count = reader.var_uint()
        if count > len(encoded):  # every pair takes at least two bytes
            raise CodecError("truncated", "count larger than the state vector")
        clocks: dict[int, int] = {}
        starts: list[int] = []
        clients: list[int] = []
        for _ in range(count):
            starts.append(reader.pos)
            client = reader.var_uint()
            clocks[client] = reader.var_uint()
            clients.append(client)
        reader.end()
        self._clocks, self._starts, self._clients = clocks, starts, clients
        self.pairs_read += count

    def _read_changed(self, encoded: bytes, old: bytes) -> bool:
        """Read only the pairs that changed; False when the layout does not allow it."""
        starts = self._starts
        same_start = _common_prefix(encoded, old)
        if same_start < starts[0]:
            return False  # the count changed (or its bytes did)
        same_end = _common_suffix(encoded, old, same_start)
        shift = len(encoded) - len(old)
        first = bisect_right(starts, same_start) - 1  # the pair the first difference is in
        # Pairs starting inside the unchanged tail are unchanged, only shifted.
        last = bisect_left(starts, len(old) - same_end)
        until = starts[last] + shift if last < len(starts) else len(encoded)
        reader = Reader(encoded)
        reader.pos = starts[first]
        changed: list[tuple[int, int, int]] = []
        while reader.pos < until:
            at = reader.pos
            try:
                client = reader.var_uint()
                clock = reader.var_uint()
            except CodecError:  # not where pairs are
                return False
            changed.append((at, client, clock))
            self.pairs_read += 1
        if reader.pos != until or len(changed) != last - first:
            return False
        clocks = self._clocks
        removed = self._clients[first:last]
        for client in removed:
            clocks.pop(client, None)
        for _, client, clock in changed:
            if client in clocks:  # it was in the kept pairs: a reordering
                self._clocks = {}
                return False
            clocks[client] = clock
        starts[first:last] = [at for at, _, _ in changed]
        self._clients[first:last] = [client for _, client, _ in changed]
        if shift:
            for index in range(last, len(starts)):
                starts[index] += shift
        return True


def _common_prefix(a: bytes, b: bytes) -> int:
    """The length of the longest common prefix (slice comparisons, halving)."""
    low, high = 0, min(len(a), len(b))
    while low < high:  # a[:low] == b[:low]
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: bytes, b: bytes, prefix: int) -> int:
    """The length of the longest common suffix not overlapping ``prefix``."""
    low, high = 0, min(len(a), len(b)) - prefix
    end_a, end_b = len(a), len(b)
    while low < high:  # a[-low:] == b[-low:]
        middle = (low + high + 1) // 2
        if a[end_a - middle:end_a - low] == b[end_b - middle:end_b - low]:
            low = middle
        else:
            high = middle - 1
    return low
