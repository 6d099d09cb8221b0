"""The protocol codec: every client message, and every way a frame can be wrong."""

from __future__ import annotations

import orjson
import pytest

from protocol import ErrorCode, ProtocolError, decode_client, encode, encode_error
from protocol import messages as m


def code_of(data: str | bytes) -> ErrorCode:
    with pytest.raises(ProtocolError) as info:
        decode_client(data)
    return info.value.code


def test_bytes_and_str_frames_decode_the_same() -> None:
    assert decode_client(b'{"type":"ping","id":1}') == decode_client('{"type":"ping","id":1}')


@pytest.mark.parametrize(
    "frame, code",
    [
        ("not json", ErrorCode.BAD_JSON),
        ("", ErrorCode.BAD_JSON),
        (b"\xff\xfe", ErrorCode.BAD_JSON),
        ("[1,2]", ErrorCode.BAD_MESSAGE),
        ('"input"', ErrorCode.BAD_MESSAGE),
        ("{}", ErrorCode.BAD_MESSAGE),
        ('{"type": 5}', ErrorCode.BAD_MESSAGE),
        ('{"type": "dance"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": "input", "seq": 1, "dx": 0, "dy": 0}', ErrorCode.UNKNOWN_TYPE),  # a game's
        ('{"type": "join", "code": "AB CD", "options": {}}', ErrorCode.BAD_FIELD),
        ('{"type": "join", "mode": "dice", "options": [1]}', ErrorCode.BAD_FIELD),
        ('{"type": "join", "mode": "dice", "fields": "red"}', ErrorCode.BAD_FIELD),
        ('{"type": "join", "resume": "tok", "fields": {"team": "red"}}', ErrorCode.BAD_FIELD),
        ('{"type": "create", "mode": "dice", "fields": {' + ", ".join(
            f'"k{i}": 1' for i in range(17)) + '}}', ErrorCode.OUT_OF_RANGE),
        ('{"type": "join", "code": "' + "A" * 13 + '"}', ErrorCode.OUT_OF_RANGE),
        ('{"type": "create"}', ErrorCode.BAD_FIELD),
        ('{"type": "create", "mode": "dice", "private": 1}', ErrorCode.BAD_FIELD),
        ('{"type": "ping"}', ErrorCode.BAD_FIELD),
        ('{"type": "ping", "id": [1]}', ErrorCode.BAD_FIELD),
        ('{"type": "ping", "id": {"a": 1}}', ErrorCode.BAD_FIELD),
        ('{"type": "ping", "id": "' + "x" * 65 + '"}', ErrorCode.OUT_OF_RANGE),
        ('{"type": "join"}', ErrorCode.BAD_FIELD),
        ('{"type": "join", "mode": "arena", "room": "abc"}', ErrorCode.BAD_FIELD),
        ('{"type": "join", "mode": 3}', ErrorCode.BAD_FIELD),
        ('{"type": "join", "mode": ""}', ErrorCode.OUT_OF_RANGE),
        ('{"type": "join", "room": "' + "r" * 33 + '"}', ErrorCode.OUT_OF_RANGE),
        ('{"type": "chat"}', ErrorCode.BAD_FIELD),
        ('{"type": "chat", "text": 5}', ErrorCode.BAD_FIELD),
        ('{"type": "chat", "text": "   "}', ErrorCode.OUT_OF_RANGE),
        ('{"type": "chat", "text": "' + "a" * 201 + '"}', ErrorCode.OUT_OF_RANGE),
        ('{"type": "chat", "text": "bell\\u0007"}', ErrorCode.OUT_OF_RANGE),
    ],
)
def test_bad_frames_raise_protocol_error_with_a_stable_code(frame: str, code: ErrorCode) -> None:
    assert code_of(frame) == code


def test_error_messages_are_for_people() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_client('{"type": "join", "mode": 7}')
    assert "mode" in info.value.message


def test_huge_integers_are_bad_json_or_out_of_range_never_a_crash() -> None:
    for frame in ('{"type":"join","mode":' + "9" * 40 + '}',
                  '{"type":"chat","text":"hi","scope":-' + "9" * 40 + '}'):
        assert code_of(frame) in (ErrorCode.BAD_JSON, ErrorCode.BAD_FIELD, ErrorCode.OUT_OF_RANGE)


def test_ping_ids_of_every_allowed_kind_round_trip() -> None:
    for ping_id in (0, 12.5, "abc", None, True, "x" * 64):
        assert decode_client(orjson.dumps({"type": "ping", "id": ping_id})) == m.Ping(ping_id)


def test_join_by_mode_or_room() -> None:
    assert decode_client('{"type":"join","mode":"arena"}') == m.Join(mode="arena", room=None)
    assert decode_client('{"type":"join","room":"ab12"}') == m.Join(mode=None, room="ab12")
    assert decode_client('{"type":"join","mode":"arena","room":null}') == m.Join("arena", None)


def test_chat_is_trimmed() -> None:
    assert decode_client('{"type":"chat","text":"  gg  "}') == m.Chat("gg")


def test_leave_and_unknown_extra_fields_are_ignored() -> None:
    assert decode_client('{"type":"leave","why":"tired"}') == m.Leave()
    assert decode_client('{"type":"ping","id":1,"extra":[1,2]}') == m.Ping(1)


def test_encoders_produce_the_documented_shapes() -> None:
    assert orjson.loads(encode_error(ErrorCode.ROOM_FULL, "full")) == {
        "type": "error", "code": "room_full", "message": "full"}
    state = orjson.loads(encode(m.state(tick=3, ts=99, changes={"gone": [2]})))
    assert state == {"type": "state", "tick": 3, "ts": 99, "gone": [2]}
    assert orjson.loads(encode(m.pong("a", 5))) == {"type": "pong", "id": "a", "ts": 5}
    assert orjson.loads(encode(m.left(room="r", reason="leave")))["reason"] == "leave"


def test_chat_refuses_invisible_and_direction_changing_characters() -> None:
    for text in ("hi\u202egg", "zero\u200bwidth", "tab\there"):
        assert code_of(orjson.dumps({"type": "chat", "text": text})) == ErrorCode.OUT_OF_RANGE


