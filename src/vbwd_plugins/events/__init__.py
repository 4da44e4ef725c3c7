"""Events: the dispatcher, the event object, listeners and the JSON round trip."""

from vbwd_plugins.events._dispatcher import Event as Event
from vbwd_plugins.events._dispatcher import EventDispatcher as EventDispatcher
from vbwd_plugins.events._dispatcher import EventListener as EventListener
from vbwd_plugins.events._dispatcher import EventPriority as EventPriority
from vbwd_plugins.events._dispatcher import ListenerFailure as ListenerFailure
from vbwd_plugins.events._serialization import register_event_enum as register_event_enum

__all__ = [
    "Event",
    "EventDispatcher",
    "EventListener",
    "EventPriority",
    "ListenerFailure",
    "register_event_enum",
]
