"""Wire schemas: the event envelope, every command body and every event's data."""
