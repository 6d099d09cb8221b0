"""The arena game's messages on the public API: its `input` decoder and its validation."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from game_server.games.api import InvalidField, decode_body
from game_server.games.arena_mode import arena_spec, plain_input

INPUT = arena_spec().messages["input"]


def decode(frame: str | dict[str, Any]) -> Any:
    return decode_body(INPUT, orjson.loads(frame) if isinstance(frame, str) else frame)


def test_input_decodes_and_converts_ints_to_floats() -> None:
    body = decode('{"type":"input","seq":17,"dx":3,"dy":-0.5}')
    assert body == (17, 3.0, -0.5) and isinstance(body[1], float)


@pytest.mark.parametrize("frame, code", [
    ('{"type": "input", "dx": 0, "dy": 0}', "bad_field"),
    ('{"type": "input", "seq": "1", "dx": 0, "dy": 0}', "bad_field"),
    ('{"type": "input", "seq": true, "dx": 0, "dy": 0}', "bad_field"),
    ('{"type": "input", "seq": 1.5, "dx": 0, "dy": 0}', "bad_field"),
    ('{"type": "input", "seq": -1, "dx": 0, "dy": 0}', "out_of_range"),
    ('{"type": "input", "seq": 2147483648, "dx": 0, "dy": 0}', "out_of_range"),
    ('{"type": "input", "seq": 1, "dy": 0}', "bad_field"),
    ('{"type": "input", "seq": 1, "dx": "left", "dy": 0}', "bad_field"),
    ('{"type": "input", "seq": 1, "dx": null, "dy": 0}', "bad_field"),
    ('{"type": "input", "seq": 1, "dx": 1e7, "dy": 0}', "out_of_range"),
    ('{"type": "input", "seq": 1, "dx": 0, "dy": -10000000}', "out_of_range"),
    ('{"type": "input", "seq": 1, "dx": 0, "dy": 0, "boost": true}', "bad_field"),
])
def test_bad_inputs_are_refused_with_a_stable_code(frame: str, code: str) -> None:
    with pytest.raises(InvalidField) as info:
        decode(frame)
    assert info.value.code == code and str(info.value)


def test_the_fast_decoder_agrees_with_the_declared_fields() -> None:
    cases = [
        {"type": "input", "seq": 5, "dx": 0.6, "dy": -0.8},
        {"type": "input", "seq": 0, "dx": 1e6, "dy": -1e6},
        {"type": "input", "seq": 5, "dx": 1, "dy": 0.5},  # an int direction: the full path
        {"type": "input", "seq": 5, "dx": 2e6, "dy": 0.0},
        {"type": "input", "seq": 5, "dx": math.nan, "dy": 0.0},
        {"type": "input", "seq": 5, "dx": math.inf, "dy": 0.0},
        {"type": "input", "seq": -1, "dx": 0.0, "dy": 0.0},
        {"type": "input", "seq": 2**31, "dx": 0.0, "dy": 0.0},
        {"type": "input", "seq": True, "dx": 0.0, "dy": 0.0},
        {"type": "input", "seq": 5.0, "dx": 0.0, "dy": 0.0},
        {"type": "input", "dx": 0.0, "dy": 0.0},
        {"type": "input", "seq": 5, "dy": 0.0},
        {"type": "input", "seq": 5, "dx": 0.0, "dy": 0.0, "extra": 1},
    ]
    slow = arena_spec().messages["input"].__class__(INPUT.fields, build=INPUT.build)
    for obj in cases:
        fast = plain_input(obj)
        try:
            body = decode_body(slow, obj)
        except InvalidField:
            assert fast is None, obj  # whatever the fields refuse, the fast decoder does
            continue
        assert fast is None or fast == body, obj
    assert plain_input(cases[0]) == (5, 0.6, -0.8)
    assert plain_input(cases[2]) is None


def test_of_two_waiting_inputs_the_higher_seq_counts() -> None:
    assert INPUT.latest_only and INPUT.supersedes is not None
    assert INPUT.supersedes((6, 0.0, 0.0), (5, 1.0, 0.0))
    assert not INPUT.supersedes((4, 0.0, 0.0), (5, 1.0, 0.0))
