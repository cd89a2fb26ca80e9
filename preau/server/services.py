"""The services one node runs, built together by the composition root (app.py)."""

from __future__ import annotations

from dataclasses import dataclass

from preau.server.attachments.service import AttachmentService
from preau.server.auth.recovery import RecoveryService
from preau.server.auth.service import AuthService
from preau.server.broker import Broker
from preau.server.calls.service import CallService
from preau.server.charter.service import CharterService
from preau.server.chat.editing import EditService
from preau.server.chat.reactions import ReactionService
from preau.server.chat.receipts import ReceiptService
from preau.server.chat.scheduler import ScheduledDelivery
from preau.server.chat.service import ChatService
from preau.server.clock import Clock
from preau.server.console.service import ConsoleService
from preau.server.directory.service import Directory
from preau.server.documents.service import DocumentService
from preau.server.live.hub import Hub
from preau.server.moderation.service import ModerationService
from preau.server.mood.service import MoodService
from preau.server.notifications.email import EmailSender
from preau.server.notifications.push import WebPush
from preau.server.notifications.service import NotificationService
from preau.server.presence import Presence
from preau.server.privacy.service import PrivacyService
from preau.server.settings import Settings
from preau.server.sso.service import SsoService
from preau.server.store import Store


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: Store
    broker: Broker
    presence: Presence
    directory: Directory
    auth: AuthService
    hub: Hub
    chat: ChatService
    moderation: ModerationService
    receipts: ReceiptService
    delivery: ScheduledDelivery  # quiet hours: messages delivered when they end
    privacy: PrivacyService
    calls: CallService  # video calls (docs/video.md)
    documents: DocumentService  # shared documents and their rooms (docs/collab.md)
    mood: MoodService  # the mood of the day (kindergarten and primary classes)
    charter: CharterService  # the charter of use and its gate (docs/moderation.md)
    reactions: ReactionService  # reactions on messages (docs/protocol.md, "Reactions")
    edits: EditService  # editing one's own message (docs/protocol.md, "Editing a message")
    notifications: NotificationService  # the notification centre (docs/protocol.md)
    email: EmailSender  # notification e-mails (runs when PREAU_SMTP_HOST is set)
    push: WebPush  # Web Push: devices and the sender (docs/protocol.md, "Notifications")
    recovery: RecoveryService  # password recovery by e-mail (preau/server/auth/recovery.py)
    console: ConsoleService  # the school admins' console (preau/server/console/)
    attachments: AttachmentService  # files in chat and documents (docs/attachments.md)
    sso: SsoService  # single sign-on: OIDC, CAS, single logout (docs/operations.md)
