"""In-process event bus: non-blocking publish, bounded per-subscriber queues."""

from deploykit_events.bus import EventBus, Subscription

__all__ = ["EventBus", "Subscription"]
