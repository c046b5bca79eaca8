"""The event log: its port, the hash chain, and the adapters (SQLite, Kafka, the relay)."""
