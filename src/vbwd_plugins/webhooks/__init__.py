"""The webhook pipeline: verify, record in the inbox, hand to the provider, answer."""

from vbwd_plugins.webhooks._inbox import InboxClaim as InboxClaim
from vbwd_plugins.webhooks._inbox import InboxRecord as InboxRecord
from vbwd_plugins.webhooks._inbox import InboxStatus as InboxStatus
from vbwd_plugins.webhooks._inbox import WebhookInbox as WebhookInbox
from vbwd_plugins.webhooks._processor import WebhookProcessor as WebhookProcessor
from vbwd_plugins.webhooks._processor import WebhookResponse as WebhookResponse

__all__ = [
    "InboxClaim",
    "InboxRecord",
    "InboxStatus",
    "WebhookInbox",
    "WebhookProcessor",
    "WebhookResponse",
]
