"""Close codes live in one place: `protocol.closes.CloseCode`, mirrored by the browser's
`client/web/net/closes.js` and documented in PROTOCOL.md's table; no code of Arena's, server,
client or load generator, spells one as a number instead."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from protocol.closes import CloseCode

REPO = Path(__file__).resolve().parent.parent
JS_MODULE = REPO / "client" / "web" / "net" / "closes.js"
# Codes that are nothing else as numbers (1000 is also a thousand milliseconds, 4000 where the
# application range starts, or 4000 bytes).
DISTINCT = {code.value for code in CloseCode} - {CloseCode.NORMAL, CloseCode.SILENT}


def js_close_codes(text: str) -> dict[str, int]:
    """The `NAME: value` entries of the module's frozen `CloseCode` object."""
    block = re.search(r"export const CloseCode = Object\.freeze\(\{(.*?)\}\);", text, re.S)
    assert block is not None, "closes.js must export `const CloseCode = Object.freeze({...});`"
    body = re.sub(r"//[^\n]*", "", block.group(1))
    entries = [e.strip() for e in body.split(",") if e.strip()]
    codes: dict[str, int] = {}
    for entry in entries:
        match = re.fullmatch(r"([A-Z_]+):\s*(\d+)", entry)
        assert match is not None, f"closes.js: not a NAME: number entry: {entry!r}"
        assert match.group(1) not in codes, f"closes.js: {match.group(1)} twice"
        codes[match.group(1)] = int(match.group(2))
    return codes


def test_the_browser_module_has_exactly_the_python_names_and_values() -> None:
    assert js_close_codes(JS_MODULE.read_text()) == {c.name: c.value for c in CloseCode}


def test_the_drift_check_sees_a_missing_a_changed_and_an_extra_code() -> None:
    text = JS_MODULE.read_text()
    expected = {c.name: c.value for c in CloseCode}
    assert js_close_codes(text.replace("4002", "4012")) != expected
    assert js_close_codes(re.sub(r"\n\s*TOO_SLOW: \d+,[^\n]*", "", text)) != expected
    assert js_close_codes(text.replace("NORMAL: 1000,", "NORMAL: 1000, EXTRA: 4999,")) != expected


def test_protocol_md_documents_every_code_by_name_in_one_table() -> None:
    text = (REPO / "PROTOCOL.md").read_text()
    rows = re.findall(r"^\| (\d{4}) \| `([A-Z_]+)` \|", text, re.M)
    assert dict((name, int(code)) for code, name in rows) == {c.name: c.value for c in CloseCode}
    assert len(rows) == len(CloseCode)


def python_numbers(path: Path) -> list[tuple[int, int]]:
    """(line, value) of every integer literal in the code (not in comments or strings)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return [(t.start[0], int(t.string)) for t in tokens
            if t.type == tokenize.NUMBER and t.string.isdigit()]


def js_numbers(path: Path) -> list[tuple[int, int]]:
    """(line, value) of every integer in the code, comments and strings left out."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), path.read_text(),
                  flags=re.S)
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        line = re.sub(r"//.*", "", line)
        line = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "''", line)
        found += [(number, int(n)) for n in re.findall(r"(?<![\w.])(\d+)(?![\w.])", line)]
    return found


def test_no_close_code_is_spelled_as_a_number_outside_the_enum() -> None:
    allowed = {JS_MODULE, REPO / "protocol" / "closes.py",
               REPO / "game_server" / "transport" / "frames.py"}  # RFC 6455's ranges
    found = []
    for folder in ("game_server", "client", "bench", "protocol"):
        for path in sorted((REPO / folder).rglob("*")):
            if path in allowed or "tests" in path.parts or "results" in path.parts:
                continue
            if path.suffix == ".py":
                numbers = python_numbers(path)
            elif path.suffix in (".js", ".mjs"):
                numbers = js_numbers(path)
            else:
                continue
            found += [f"{path.relative_to(REPO)}:{line}: {value}"
                      for line, value in numbers if value in DISTINCT]
    assert found == [], ("use protocol.closes.CloseCode (closes.js in the browser):\n"
                         + "\n".join(found))
