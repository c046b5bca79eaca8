"""Fail points as HUB_FAILPOINTS spells them: parsed strictly, taken in order."""

from __future__ import annotations

import pytest

from hub.failpoints import parse


def actions(spec: str, name: str, passes: int) -> list[str]:
    point = parse(spec)[name]
    taken = []
    for _ in range(passes):
        step = point.next_step()
        taken.append("none" if step is None else f"{step.action}{step.seconds or ''}")
    return taken


def test_an_action_with_a_count_acts_that_many_times_then_never() -> None:
    assert actions("log.after_commit=sleep(0.5)*2", "log.after_commit", 4) == [
        "sleep0.5",
        "sleep0.5",
        "none",
        "none",
    ]


def test_an_action_without_a_count_acts_every_time() -> None:
    assert actions("api.before_answer=exit", "api.before_answer", 3) == ["exit"] * 3


def test_chained_actions_follow_one_another() -> None:
    spec = "worker.before_produce=off*2->sleep(1)*1->exit; log.before_commit=sleep(2)"
    assert actions(spec, "worker.before_produce", 5) == ["off", "off", "sleep1.0", "exit", "exit"]
    assert actions(spec, "log.before_commit", 1) == ["sleep2.0"]


def test_unset_there_is_no_fail_point() -> None:
    assert parse("") == {}
    assert parse(" ; ") == {}


@pytest.mark.parametrize(
    "spec",
    ["log.commit=exit", "log.after_commit=die", "log.after_commit=sleep(x)", "log.after_commit=exit*"],
)
def test_a_spelling_it_does_not_know_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="HUB_FAILPOINTS"):
        parse(spec)
