"""Read models folded from the event store."""
