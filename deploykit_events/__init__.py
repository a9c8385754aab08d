"""In-process event bus: non-blocking publish, bounded per-subscriber queues."""
