"""hub/logs.py: the same kind of warning once a window, then with the count held back."""

from __future__ import annotations

import logging

import pytest

from hub.logs import Repeats, quiet_repeats


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(
    msg: str, *args: object, level: int = logging.WARNING, name: str = "aiokafka.conn"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_storm_of_one_warning_is_one_line_a_window_with_its_count() -> None:
    clock = Clock()
    repeats = Repeats(window=30, clock=clock)
    passed = []
    for n in range(6000):  # 200 a second for 30 s, then one more
        clock.now = n / 200
        record = _record("Unable connect to node with id %s: %s", 1, f"attempt {n}")
        if repeats.filter(record):
            passed.append(record.getMessage())
    clock.now = 31
    last = _record("Unable connect to node with id %s: %s", 1, "again")
    assert repeats.filter(last)
    passed.append(last.getMessage())
    assert len(passed) == 2
    assert passed[0] == "Unable connect to node with id 1: attempt 0"
    assert passed[1] == "Unable connect to node with id 1: again [and 5,999 more like it in the last 31s]"


def test_other_kinds_and_info_pass() -> None:
    repeats = Repeats(window=30, clock=Clock())
    assert repeats.filter(_record("a %s", 1))
    assert not repeats.filter(_record("a %s", 2))
    assert repeats.filter(_record("b %s", 1))  # another template
    assert repeats.filter(_record("a %s", 1, name="faust.worker"))  # another logger
    assert repeats.filter(_record("a %s", 1, level=logging.ERROR))  # another level
    assert repeats.filter(_record("a %s", 1, level=logging.INFO))
    assert repeats.filter(_record("a %s", 1, level=logging.INFO))


def test_quiet_repeats_reaches_loggers_that_exist(caplog: pytest.LogCaptureFixture) -> None:
    child = logging.getLogger("aiokafka.test_child_logger")
    quiet_repeats(("aiokafka",), window=30)
    with caplog.at_level(logging.WARNING, logger="aiokafka.test_child_logger"):
        for n in range(100):
            child.warning("broker away %d", n)
    assert [r.getMessage() for r in caplog.records] == ["broker away 0"]
    child.filters.clear()
