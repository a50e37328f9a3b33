"""Property tests: random edits in every encoding match a reference; incremental trees
match fresh parses."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from cl_lsp.core.document import UTF8, UTF16, UTF32, Document, Position
from cl_lsp.core.languages import new_parser

# Emoji (non-BMP), CJK, combining marks, every LSP line break, plain ASCII.
ALPHABET = st.sampled_from(list("ab ()=:_\t\n") + ["\r\n", "\r", "😋", "漢", "é", "e\u0301", "🇫🇷"])
TEXT = st.lists(ALPHABET, max_size=40).map("".join)
_BREAK = re.compile(r"\r\n|\r|\n")


def reference_lines(text: str) -> list[tuple[int, str]]:
    """(start offset, line text without break) per LSP line."""
    lines, start = [], 0
    for match in _BREAK.finditer(text):
        lines.append((start, text[start : match.start()]))
        start = match.end()
    lines.append((start, text[start:]))
    return lines


def units(text: str, encoding: str) -> int:
    if encoding == UTF8:
        return len(text.encode("utf-8"))
    if encoding == UTF16:
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def reference_offset(text: str, line: int, character: int, encoding: str) -> int:
    lines = reference_lines(text)
    if line >= len(lines):
        return len(text)
    start, content = lines[line]
    k = 0  # the largest prefix that fits in `character` units: rounds down inside a char
    while k < len(content) and units(content[: k + 1], encoding) <= character:
        k += 1
    return start + k


def client_position(text: str, offset: int, encoding: str) -> Position:
    for number, (start, content) in reversed(list(enumerate(reference_lines(text)))):
        if start <= offset:
            return Position(number, units(content[: min(offset - start, len(content))], encoding))
    return Position(0, 0)


@st.composite
def edits(draw: st.DrawFn) -> tuple[str, list[tuple[int, int, int, int, str]]]:
    text = draw(TEXT)
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        steps.append(
            (
                draw(st.integers(0, 12)),
                draw(st.integers(0, 30)),
                draw(st.integers(0, 12)),
                draw(st.integers(0, 30)),
                draw(TEXT),
            )
        )
    return text, steps


@settings(max_examples=300, deadline=None)
@given(edits(), st.sampled_from([UTF8, UTF16, UTF32]))
def test_random_edits_match_the_reference(case: tuple[str, list], encoding: str) -> None:
    text, steps = case
    document = Document("file:///t.txt", text)
    reference = text
    for l1, c1, l2, c2, inserted in steps:
        a = reference_offset(reference, l1, c1, encoding)
        b = reference_offset(reference, l2, c2, encoding)
        a, b = min(a, b), max(a, b)
        reference = reference[:a] + inserted + reference[b:]
        document.apply_change(inserted, Position(l1, c1), Position(l2, c2), encoding)
        assert document.text == reference
    # Every position the server hands back is valid and round-trips.
    for offset in range(len(reference) + 1):
        position = document.position_at(offset, encoding)
        assert position == client_position(reference, offset, encoding)
        back = document.offset_at(position, encoding)
        assert back == offset or reference[back:offset] in ("\r", "\n", "\r\n", "")


PY_PIECES = st.sampled_from(
    [
        "def f(x):\n",
        "    return x\n",
        "class A:\n",
        "    pass\n",
        "(",
        ")",
        "[",
        "]",
        ":",
        "\n",
        "x = 1\n",
        "'s'",
        '"😋"',
        "# c\n",
        "if x:\n",
        "  ",
        "漢",
        "lambda: 0",
    ]
)
PY_TEXT = st.lists(PY_PIECES, max_size=25).map("".join)


def shape(tree) -> list[tuple[str, int, int, bool]]:  # type: ignore[no-untyped-def]
    nodes, cursor = [], tree.walk()
    visited_children = False
    while True:
        if not visited_children:
            node = cursor.node
            nodes.append((node.type, node.start_byte, node.end_byte, node.is_missing))
            if cursor.goto_first_child():
                continue
        if cursor.goto_next_sibling():
            visited_children = False
        elif cursor.goto_parent():
            visited_children = True
        else:
            return nodes


@settings(max_examples=200, deadline=None)
@given(
    PY_TEXT,
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 20), PY_TEXT), min_size=1, max_size=6),
)
def test_incremental_tree_equals_fresh_parse(text: str, steps: list[tuple[int, int, str]]) -> None:
    document = Document("file:///t.py", text, language_id="python")
    assert document.tree_for(document.text) is not None  # parse once, then edit incrementally
    parser = new_parser("python")
    for start, length, inserted in steps:
        current = document.text
        a = min(start, len(current))
        b = min(a + length, len(current))
        begin, end = document.position_at(a), document.position_at(b)
        document.apply_change(inserted, begin, end)
        incremental = document.tree_for(document.text)
        fresh = parser.parse(document.text.encode("utf-8"))
        assert incremental is not None
        assert shape(incremental) == shape(fresh)


def test_tree_is_none_for_a_stale_snapshot() -> None:
    document = Document("file:///t.py", "x = 1\n", language_id="python")
    snapshot = document.text
    document.apply_change("y", Position(0, 0), Position(0, 1))
    assert document.tree_for(snapshot) is None
    assert document.tree_for(document.text) is not None
