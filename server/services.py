"""The services one node runs, built together by the composition root (app.py)."""

from __future__ import annotations

from dataclasses import dataclass

from server.auth.service import AuthService
from server.broker import Broker
from server.calls.service import CallService
from server.charter.service import CharterService
from server.chat.reactions import ReactionService
from server.chat.receipts import ReceiptService
from server.chat.scheduler import ScheduledDelivery
from server.chat.service import ChatService
from server.clock import Clock
from server.directory.service import Directory
from server.documents.service import DocumentService
from server.live.hub import Hub
from server.moderation.service import ModerationService
from server.mood.service import MoodService
from server.notifications.email import EmailSender
from server.notifications.service import NotificationService
from server.presence import Presence
from server.privacy.service import PrivacyService
from server.settings import Settings
from server.store import Store


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
    notifications: NotificationService  # the notification centre (docs/protocol.md)
    email: EmailSender  # notification e-mails (runs when PREAU_SMTP_HOST is set)
