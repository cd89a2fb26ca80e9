"""Every Prometheus series Préau exports (docs/operations.md, "Metrics").

One module low in the layers: services, the live fan-out, the broker and the
store import it to count; it imports nothing of Préau but the error type
(preau/server/errors.py). Conventions: names start with ``preau_``, carry their
unit (``_seconds``, ``_bytes``), counters end in ``_total`` (added by the
client library), and every label takes a few fixed values — never a
person, room, document or call id.

On the hot path a count is one call on a child bound here at import time
(``POSTED.inc()``); labels whose values come from an enum (error codes) are
looked up among at most a few dozen children.

Several worker processes per node (not how Préau runs: one process per node,
more nodes to scale) need ``PROMETHEUS_MULTIPROC_DIR`` set to an empty
directory before start: the client library then keeps each process's values
in files there, and :func:`exposition_registry` sums them at each scrape
(gauges of open things: ``livesum``). The gauges read at scrape time
(``set_function``: open documents, call seats, broker link) then report
the process that answered the scrape.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from types import TracebackType

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from preau.server.errors import PreauError

__all__ = ["CONTENT_TYPE_LATEST", "exposition_registry", "render"]

# Latencies of in-process work, a commit and a fan-out: 0.5 ms … 10 s.
FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# -- node ------------------------------------------------------------------------
NODE_INFO = Gauge("preau_node_info", "This node: its id and version (value 1)",
                  ["node", "version"], multiprocess_mode="max")

# -- connections -----------------------------------------------------------------
ENDPOINTS = ("ws", "collab")
PROFILES = ("pupil", "teacher", "parent", "staff")
CONNECTIONS = Gauge("preau_connections", "Open sockets on this node",
                    ["endpoint", "profile"], multiprocess_mode="livesum")
CONNECTIONS_OPENED = Counter("preau_connections_opened", "Sockets accepted",
                             ["endpoint", "profile"])

# -- messages --------------------------------------------------------------------
MESSAGES = Counter("preau_messages", "Chat messages sent, by outcome", ["outcome"])
POSTED = MESSAGES.labels("posted")
HELD = MESSAGES.labels("held")
SCHEDULED = MESSAGES.labels("scheduled")
REFUSED = MESSAGES.labels("refused")
MESSAGES_REFUSED = Counter("preau_messages_refused",
                           "Chat messages refused, by reason (the error code)", ["reason"])
DELIVERIES = Counter("preau_deliveries",
                     "Committed messages queued to a socket (one per recipient)")
FANOUT_LATENCY = Histogram(
    "preau_fanout_latency_seconds",
    "From the commit of a message to its frame queued to this node's subscribers "
    "(path local: the committing node; remote: through the broker)",
    ["path"], buckets=FAST)
FANOUT_LOCAL = FANOUT_LATENCY.labels("local")
FANOUT_REMOTE = FANOUT_LATENCY.labels("remote")

# -- send queues -----------------------------------------------------------------
SLOW_CONSUMER_CUTS = Counter("preau_slow_consumer_cuts",
                             "Sockets cut because their send queue overflowed", ["endpoint"])
SEND_QUEUE_DROPPED = Counter("preau_send_queue_dropped_frames",
                             "Frames discarded with a cut socket's send queue", ["endpoint"])
SLOW_CONSUMER_WS = SLOW_CONSUMER_CUTS.labels("ws")

# -- broker ----------------------------------------------------------------------
BROKER_PUBLISHED = Counter("preau_broker_published_messages", "Messages given to the broker")
BROKER_RECEIVED = Counter("preau_broker_received_messages",
                          "Messages read from the broker (Redis: echoes included)")
BROKER_DROPPED = Counter("preau_broker_dropped_messages",
                         "Messages the broker lost: a full subscription buffer (in) "
                         "or a full outbox while Redis was away (out)", ["direction"])
BROKER_DROPPED_IN = BROKER_DROPPED.labels("in")
BROKER_DROPPED_OUT = BROKER_DROPPED.labels("out")
BROKER_RECONNECTIONS = Counter("preau_broker_reconnections",
                               "Links to Redis re-established after a loss")
BROKER_UP = Gauge("preau_broker_up", "1 while the broker link is up (memory broker: always)",
                  multiprocess_mode="min")
BROKER_LAG = Histogram("preau_broker_lag_seconds",
                       "From publication on a node to receipt on this one (room channels; "
                       "includes clock skew between nodes)", buckets=FAST)

# -- store -----------------------------------------------------------------------
STORE_TRANSACTION = Histogram("preau_store_transaction_seconds",
                              "Store transactions, by kind (read, write, bulk)", ["kind"],
                              buckets=FAST)
STORE_OPERATION = Histogram("preau_store_operation_seconds",
                            "Named store operations on the hot path", ["operation"],
                            buckets=FAST)
STORE_POST = STORE_OPERATION.labels("post_message")
STORE_REPLAY = STORE_OPERATION.labels("replay_page")
STORE_ERRORS = Counter("preau_store_transaction_errors",
                       "Store transactions that failed with an error (not a refusal)", ["kind"])
STORE_UP = Gauge("preau_store_up",
                 "1 while this node reaches its store, 0 during an outage"
                 " (preau/server/store/outage.py)",
                 multiprocess_mode="min")
STORE_OUTAGES = Counter("preau_store_outages",
                        "Store outages this node went through (each counted when it starts)")
_TX_TIME = {kind: STORE_TRANSACTION.labels(kind) for kind in ("read", "write", "bulk")}
_TX_ERRORS = {kind: STORE_ERRORS.labels(kind) for kind in ("read", "write", "bulk")}


class timed_transaction:
    """Times one store transaction, from asking for it (lock or pool wait
    included) to its commit; counts it as an error when it ends with an
    exception that is not a refusal (``PreauError``) nor a cancellation."""

    __slots__ = ("kind", "started")

    def __init__(self, readonly: bool, bulk: bool) -> None:
        self.kind = "bulk" if bulk else "read" if readonly else "write"
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            _TX_TIME[self.kind].observe(time.perf_counter() - self.started)
        elif issubclass(exc_type, Exception) and not issubclass(exc_type, PreauError):
            _TX_ERRORS[self.kind].inc()

# -- documents -------------------------------------------------------------------
DOCUMENT_UPDATES = Counter("preau_document_updates", "Yjs updates applied to documents")
DOCUMENT_UPDATE_BYTES = Counter("preau_document_update_bytes", "Bytes of Yjs updates applied")
DOCUMENT_COMPACTIONS = Counter("preau_document_compactions", "Document compactions done")
DOCUMENT_SIZE = Histogram("preau_document_size_bytes", "A document's snapshot size at compaction",
                          buckets=(1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216))
DOCUMENTS_OPEN = Gauge("preau_documents_open", "Documents with a socket on this node",
                       multiprocess_mode="livesum")

# -- calls -----------------------------------------------------------------------
CALLS_STARTED = Counter("preau_calls_started", "Calls started")
CALL_JOINS = Counter("preau_call_joins", "Participants who joined a call")
CALL_PARTICIPANTS = Gauge("preau_call_participants", "Call seats held by this node's sockets",
                          multiprocess_mode="livesum")
SFU_ASSIGNMENTS = Counter("preau_sfu_assignments",
                          "Publishers placed on a Janus instance (calls in SFU mode)")

# -- logins and limits -----------------------------------------------------------
LOGINS = Counter("preau_logins", "Password logins, by outcome (success, failure, throttled)",
                 ["outcome"])
LOGIN_SUCCESS = LOGINS.labels("success")
LOGIN_FAILURE = LOGINS.labels("failure")
LOGIN_THROTTLED = LOGINS.labels("throttled")
RATE_LIMITED = Counter("preau_rate_limited",
                       "Requests refused by a rate limit, by limit", ["limit"])
RATE_OPS = RATE_LIMITED.labels("ops")
RATE_SENDS = RATE_LIMITED.labels("sends")
RATE_CONVERSATIONS = RATE_LIMITED.labels("conversations")
RATE_COLLAB = RATE_LIMITED.labels("collab_frames")

# -- requests and errors ---------------------------------------------------------
HTTP_RESPONSES = Counter("preau_http_responses", "HTTP responses, by status class", ["status"])
HTTP_STATUS = {c: HTTP_RESPONSES.labels(f"{c}xx") for c in range(1, 6)}
OP_ERRORS = Counter("preau_op_errors", "/ws ops answered with an error, by code", ["code"])


def refused(reason: str) -> None:
    """Count a chat message refused (``reason``: an error code, bounded)."""
    REFUSED.inc()
    MESSAGES_REFUSED.labels(reason).inc()


def response(status: int) -> None:
    """Count an HTTP response (by status class: bounded)."""
    child = HTTP_STATUS.get(status // 100)
    if child is not None:
        child.inc()


def bind_node(
    node_id: str,
    version: str,
    *,
    broker_up: Callable[[], bool],
    documents_open: Callable[[], int],
    call_participants: Callable[[], int],
) -> None:
    """Name this node and read its state gauges at scrape time (once per app)."""
    NODE_INFO.clear()
    NODE_INFO.labels(node_id, version).set(1)
    if not _multiprocess():
        BROKER_UP.set_function(lambda: 1.0 if broker_up() else 0.0)
        DOCUMENTS_OPEN.set_function(lambda: float(documents_open()))
        CALL_PARTICIPANTS.set_function(lambda: float(call_participants()))


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition_registry() -> CollectorRegistry:
    """What a scrape reads: this process's series, or every worker's when
    ``PROMETHEUS_MULTIPROC_DIR`` is set."""
    if not _multiprocess():
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def render() -> bytes:
    """The text exposition format of :func:`exposition_registry`."""
    return generate_latest(exposition_registry())


# Every series with its fixed labels exists from the start (at zero), so that
# rates and alerts see a first value instead of a missing series.
for _endpoint in ENDPOINTS:
    SLOW_CONSUMER_CUTS.labels(_endpoint)
    SEND_QUEUE_DROPPED.labels(_endpoint)
    for _profile in PROFILES:
        CONNECTIONS.labels(_endpoint, _profile)
        CONNECTIONS_OPENED.labels(_endpoint, _profile)


def serve(host: str, port: int) -> Callable[[], None]:
    """Serve the metrics on ``host:port`` (``PREAU_METRICS_PORT``), any path,
    without a token: for a network only Prometheus reaches. Returns the stop."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, host, registry=exposition_registry())

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop
