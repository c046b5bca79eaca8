"""Kafka mode's stream processing: the Faust worker, single writer per partnership."""
