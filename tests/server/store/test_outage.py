"""The outage log's edges (preau/server/store/outage.py): one outage is one
outage, however the transactions under way when it began end."""

from __future__ import annotations

import time

from preau.server import metrics
from preau.server.store.outage import OutageLog, StoreUnavailable


def _outages() -> float:
    return metrics.STORE_OUTAGES._value.get()  # type: ignore[attr-defined,no-any-return]


def test_a_transaction_begun_before_the_outage_does_not_end_it() -> None:
    log = OutageLog("store (test)")
    before = _outages()
    under_way = time.monotonic()  # began while the database still answered
    assert isinstance(log.failed(ConnectionError("gone")), StoreUnavailable)
    log.succeeded(under_way)  # ...and its result came back after the first failure
    assert log.down
    log.failed(ConnectionError("still gone"))
    assert _outages() == before + 1
    log.succeeded(time.monotonic())  # one begun since: the database is back
    assert not log.down
    log.failed(ConnectionError("gone again"))
    assert _outages() == before + 2
