"""Build the data-protection services of one node (called by the composition root)."""

from __future__ import annotations

import functools

from preau.server.clock import Clock
from preau.server.directory.service import Directory
from preau.server.live.hub import Hub
from preau.server.moderation.service import ModerationService
from preau.server.privacy.erasure import ErasureRunner
from preau.server.privacy.retention import RetentionJob
from preau.server.privacy.service import EXPORTS_BURST, EXPORTS_PER_HOUR, PrivacyService
from preau.server.privacy.traces import open_traces
from preau.server.ratelimit.factory import open_rate_limiter
from preau.server.settings import Settings
from preau.server.store import Store
from preau.server.store.privacy import PrivacyStore


def build_privacy(
    store: Store, settings: Settings, clock: Clock, hub: Hub, moderation: ModerationService,
    directory: Directory,
) -> PrivacyService:
    pstore = PrivacyStore(store.engine)
    erasures = ErasureRunner(
        pstore, clock,
        traces=open_traces(settings.broker_url),
        # Closes the person's sockets here and, over the broker, on every node.
        sessions_revoked=functools.partial(hub.revoke_sessions, account_closed=True),
        # Reloads the school here and tells the other nodes to.
        directory_changed=hub.directory_changed,
    )
    retention = RetentionJob(
        pstore, erasures, moderation.purge_expired, settings, clock, holder=settings.node_id
    )
    exports = open_rate_limiter(
        settings.broker_url, EXPORTS_PER_HOUR / 3600, EXPORTS_BURST, name="exports"
    )
    return PrivacyService(pstore, erasures, retention, settings, clock, exports, directory)
