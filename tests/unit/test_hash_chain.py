"""check_chain on hand-built sequences: every kind of tampering is found at its position."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hub.log.chain import GENESIS, canonical, chain, check_chain

Row = tuple[bytes, str]


def envelope(position: int, partnership: str = "north", **data: Any) -> dict[str, Any]:
    return {
        "id": f"{position:032x}",
        "type": "note.added",
        "schema_version": 1,
        "partnership": partnership,
        "stream": "s",
        "stream_version": position,
        "position": position,
        "occurred_at": "2026-03-01T21:00:00.000000Z",
        "recorded_at": "2026-03-01T21:00:00.000100Z",
        "actor": {"user": "u", "role": "police"},
        "command_id": f"c{position}",
        "correlation_id": f"c{position}",
        "causation_id": None,
        "data": {"n": position, **data},
    }


def sealed(envelopes: list[dict[str, Any]], prev: str = GENESIS) -> list[Row]:
    """Chain envelopes as an honest writer would: (canonical body, hash)."""
    rows = []
    for e in envelopes:
        body = canonical(e)
        prev = chain(prev, body)
        rows.append((body, prev))
    return rows


def honest(n: int = 6, partnership: str = "north") -> list[Row]:
    return sealed([envelope(i, partnership) for i in range(1, n + 1)])


def body(row: Row) -> dict[str, Any]:
    return dict(orjson.loads(row[0]))


def test_an_intact_chain_verifies() -> None:
    result = check_chain("north", iter(honest()))
    assert result.ok
    assert result.checked == 6
    assert result.first_bad_position is None
    assert result.partnership == "north"


def test_an_empty_chain_verifies() -> None:
    result = check_chain("north", iter([]))
    assert result.ok and result.checked == 0


def test_chain_is_sha256_of_previous_hash_and_body() -> None:
    import hashlib

    b = canonical(envelope(1))
    assert chain(GENESIS, b) == hashlib.sha256(GENESIS.encode() + b).hexdigest()
    assert GENESIS == "0" * 64


def test_canonical_ignores_the_hash_and_sorts_keys() -> None:
    e = envelope(1)
    assert canonical({**e, "hash": "x" * 64}) == canonical(e)
    assert canonical(dict(reversed(list(e.items())))) == canonical(e)
    assert list(orjson.loads(canonical(e))) == sorted(e)


@pytest.mark.parametrize("at", [1, 3, 6])
def test_an_altered_event_is_found_at_its_position(at: int) -> None:
    rows = honest()
    changed = {**body(rows[at - 1]), "data": {"n": 999}}
    rows[at - 1] = (canonical(changed), rows[at - 1][1])
    result = check_chain("north", iter(rows))
    assert not result.ok
    assert result.first_bad_position == at
    assert result.reason == "hash mismatch"
    assert result.checked == at


def test_an_altered_event_with_a_recomputed_hash_breaks_the_next_link() -> None:
    rows = honest()
    changed = {**body(rows[2]), "actor": {"user": "mallory", "role": "coordinator"}}
    new_body = canonical(changed)
    rows[2] = (new_body, chain(rows[1][1], new_body))
    result = check_chain("north", iter(rows))
    assert not result.ok and result.first_bad_position == 4


def test_an_altered_hash_is_found() -> None:
    rows = honest()
    rows[4] = (rows[4][0], "f" * 64)
    result = check_chain("north", iter(rows))
    assert not result.ok and result.first_bad_position == 5


@pytest.mark.parametrize("at", [1, 2, 4, 5])
def test_a_removed_event_is_found_at_its_position(at: int) -> None:
    rows = honest()
    del rows[at - 1]
    result = check_chain("north", iter(rows))
    assert not result.ok
    assert result.first_bad_position == at


def test_a_removed_event_with_the_rest_renumbered_and_rechained_from_the_gap_is_found() -> None:
    """Even rewriting every later position cannot hide a removal without every later hash."""
    envelopes = [envelope(i) for i in range(1, 7)]
    rows = sealed(envelopes)
    shifted = [{**e, "position": e["position"] - 1} for e in envelopes[3:]]
    forged = rows[:2] + [(canonical(e), h) for e, (_, h) in zip(shifted, rows[3:], strict=True)]
    result = check_chain("north", iter(forged))
    assert not result.ok and result.first_bad_position == 3


@pytest.mark.parametrize("at", [1, 3, 6])
def test_an_inserted_event_is_found_right_after_it(at: int) -> None:
    """An intruder given the right position and chained to its predecessor passes itself,
    but the event it displaced is then out of place."""
    rows = honest()
    prev = rows[at - 2][1] if at > 1 else GENESIS
    new_body = canonical(envelope(at, text="forged"))
    rows.insert(at - 1, (new_body, chain(prev, new_body)))
    result = check_chain("north", iter(rows))
    assert not result.ok
    assert result.first_bad_position == at + 1
    assert result.reason == "event out of place"


@pytest.mark.parametrize("at", [1, 3, 6])
def test_an_inserted_event_with_a_made_up_hash_is_found_at_its_position(at: int) -> None:
    rows = honest()
    rows.insert(at - 1, (canonical(envelope(at, text="forged")), "a" * 64))
    result = check_chain("north", iter(rows))
    assert not result.ok
    assert result.first_bad_position == at
    assert result.reason == "hash mismatch"


def test_an_event_inserted_with_a_duplicate_position_is_found() -> None:
    rows = honest()
    rows.insert(3, rows[2])  # position 3 repeated
    result = check_chain("north", iter(rows))
    assert not result.ok and result.first_bad_position == 4


@pytest.mark.parametrize(("a", "b"), [(1, 2), (2, 5), (5, 6)])
def test_reordered_events_are_found_at_the_first_moved(a: int, b: int) -> None:
    rows = honest()
    rows[a - 1], rows[b - 1] = rows[b - 1], rows[a - 1]
    result = check_chain("north", iter(rows))
    assert not result.ok
    assert result.first_bad_position == a
    assert result.reason == "event out of place"


def test_reordered_events_renumbered_to_fit_are_found_by_the_hash() -> None:
    envelopes = [envelope(i) for i in range(1, 7)]
    rows = sealed(envelopes)
    two, three = body(rows[1]), body(rows[2])
    two["position"], three["position"] = 3, 2
    rows[1], rows[2] = (canonical(three), rows[2][1]), (canonical(two), rows[1][1])
    result = check_chain("north", iter(rows))
    assert not result.ok and result.first_bad_position == 2
    assert result.reason == "hash mismatch"


def test_an_event_from_another_partnership_is_found() -> None:
    rows = honest()
    rows[3] = honest(partnership="south")[3]
    result = check_chain("north", iter(rows))
    assert not result.ok and result.first_bad_position == 4
    assert result.reason == "event out of place"


def test_a_whole_chain_from_another_partnership_does_not_verify_here() -> None:
    result = check_chain("north", iter(honest(partnership="south")))
    assert not result.ok and result.first_bad_position == 1


@pytest.mark.parametrize("garbage", [b"{not json", b"[]", b"42", b'"text"', b'{"position": 1}'])
def test_an_unreadable_event_is_found(garbage: bytes) -> None:
    rows = honest()
    rows[1] = (garbage, rows[1][1])
    result = check_chain("north", iter(rows))
    assert not result.ok and result.first_bad_position == 2
    assert result.reason == "unreadable event"


def test_only_the_first_break_is_named() -> None:
    rows = honest()
    rows[1] = (rows[1][0], "0" * 64)
    del rows[4]
    result = check_chain("north", iter(rows))
    assert result.first_bad_position == 2
