"""engine/filters.py: the lobby's room filter and quick play's options filter."""

from __future__ import annotations

import pytest

from game_server.engine.filters import BadFilter, lobby_filter, lobby_match, option_filter
from game_server.games.api import Field, InvalidField

ROOM = {"id": "r1", "mode": "dice", "players": 3, "max_players": 6,
        "options": {"dice": 5, "ones_wild": True, "turn_seconds": 30},
        "metadata": {"status": "waiting", "dice": 4}}


def passes(query: dict[str, str]) -> bool:
    return lobby_match(ROOM, lobby_filter(query))


def test_the_lobby_filters_on_players_metadata_then_options() -> None:
    assert passes({}) and passes({"status": "waiting"}) and not passes({"status": "playing"})
    assert passes({"turn_seconds": "30"}) and passes({"ones_wild": "true"})
    assert passes({"dice": "4"}) and not passes({"dice": "5"})  # the metadata's dice first
    assert passes({"min_players": "3", "max_players": "3"})
    assert not passes({"min_players": "4"}) and not passes({"max_players": "2"})
    assert passes({"min_turn_seconds": "20.5"}) and not passes({"max_turn_seconds": "29"})
    assert not passes({"min_status": "1"})  # not a number: no room is at least 1
    assert not passes({"min_nothing": "0"}) and not passes({"nothing": "x"})


def test_a_lobby_bound_must_be_a_finite_number() -> None:
    for bad in ("soon", "nan", "inf", ""):
        with pytest.raises(BadFilter):
            lobby_filter({"min_players": bad})


OPTIONS = {"dice": Field("int", low=1, high=6, default=5),
           "pace": Field("float", low=0.5, high=2.0, default=1.0),
           "ones_wild": Field("bool", default=True)}


def test_quick_play_filters_named_options_and_makes_a_room_inside_its_ranges() -> None:
    anything = option_filter(OPTIONS, None)
    assert anything.matches({"dice": 1, "pace": 2.0, "ones_wild": False})
    assert anything.create_options() == {"dice": 5, "pace": 1.0, "ones_wild": True}
    wild = option_filter(OPTIONS, {"ones_wild": True})
    assert not wild.matches({"dice": 5, "pace": 1.0, "ones_wild": False})
    assert not option_filter(OPTIONS, {"dice": 1}).matches({"dice": True})  # True is not 1
    few = option_filter(OPTIONS, {"max_dice": 3.5, "min_pace": 1.5})
    assert few.matches({"dice": 3, "pace": 1.5}) and not few.matches({"dice": 4, "pace": 2})
    assert few.create_options() == {"dice": 3, "pace": 1.5, "ones_wild": True}
    assert option_filter(OPTIONS, {"min_dice": 5.5}).create_options()["dice"] == 6
    assert few.key() == option_filter(OPTIONS, {"min_pace": 1.5, "max_dice": 3.5}).key()


def test_quick_play_refuses_what_it_cannot_filter_on() -> None:
    for given, code in (({"colour": "red"}, "bad_field"), ({"min_colour": 1}, "bad_field"),
                        ({"min_ones_wild": 1}, "bad_field"), ({"min_dice": True}, "bad_field"),
                        ({"dice": 9}, "out_of_range"), ({"dice": 3, "max_dice": 4}, "bad_field"),
                        ({"min_dice": 4, "max_dice": 2}, "out_of_range")):
        with pytest.raises(InvalidField) as info:
            option_filter(OPTIONS, given)
        assert info.value.code == code, given
    no_room = option_filter(OPTIONS, {"min_dice": 3.2, "max_dice": 3.8})  # no integer inside
    with pytest.raises(InvalidField) as info:
        no_room.create_options()
    assert info.value.code == "out_of_range"
