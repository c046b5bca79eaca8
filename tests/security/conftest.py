"""Security tests: one that fails on a Kafka cluster (tests/security/test_paths.py) shows
the tails of its processes' logs, as the Kafka tests do."""

from tests.kafka.conftest import pytest_runtest_makereport

__all__ = ["pytest_runtest_makereport"]
