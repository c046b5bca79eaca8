"""Projections: views folded from the log, the live frames they push, and snapshots."""
