"""decide_shape: where to complete nothing, the rest of a line, or a block."""

from __future__ import annotations

import pytest

from cl_lsp.core.languages import new_parser
from cl_lsp.core.shape import Shape, ShapeDecision, decide_shape


def shape_at(marked: str, language: str | None) -> ShapeDecision:
    """The decision at the `|` in marked (the bar is removed)."""
    offset = marked.index("|")
    return decide_shape(marked[:offset] + marked[offset + 1 :], offset, language)


@pytest.mark.parametrize("language", [None, "python"])
def test_mid_word_is_none(language: str | None) -> None:
    decision = shape_at("def f():\n    ret|urn 1\n", language)
    assert decision == ShapeDecision(Shape.NONE, "mid-word")


@pytest.mark.parametrize("language", [None, "python", "javascript", "c", "go"])
def test_end_of_line_after_code_is_line(language: str | None) -> None:
    assert shape_at("x = foo(|\n", language).shape is Shape.LINE
    assert shape_at("x = |\n", language).reason == "end-of-line"


@pytest.mark.parametrize("language", [None, "python", "javascript", "c", "go"])
def test_text_after_cursor_is_line(language: str | None) -> None:
    decision = shape_at("x = foo(|)\n", language)
    assert decision == ShapeDecision(Shape.LINE, "text-after-cursor")


@pytest.mark.parametrize("language", [None, "python", "javascript", "c", "go"])
def test_whitespace_only_line_is_block(language: str | None) -> None:
    assert shape_at("if (x) {\n    |\n}\n", language) == ShapeDecision(Shape.BLOCK, "empty-line")
    assert shape_at("|", language).shape is Shape.BLOCK
    assert shape_at("a\n|", language).shape is Shape.BLOCK


def test_word_char_after_cursor_wins_over_everything() -> None:
    assert shape_at("    |x\n", None).shape is Shape.NONE
    assert shape_at("    |_x\n", "python").shape is Shape.NONE


def test_cursor_at_end_of_text_and_offsets_out_of_range() -> None:
    assert decide_shape("x = 1", 99, None).shape is Shape.LINE
    assert decide_shape("", 0, "python").shape is Shape.BLOCK


@pytest.mark.parametrize(
    ("language", "marked"),
    [
        ("python", 'x = "ab| d"\n'),
        ("python", "x = f'{a} b| c'\n"),
        ("javascript", "const s = 'a | b';\n"),
        ("javascript", "const s = `a |- b`;\n"),
        ("c", 'char *s = "a |.b";\n'),
        ("go", 'var s = "a | b"\n'),
        ("go", "var s = `a |(b`\n"),
        ("rust", 'let s = "a | b";\n'),
    ],
)
def test_inside_string_is_none(language: str, marked: str) -> None:
    assert shape_at(marked, language) == ShapeDecision(Shape.NONE, "inside-string")


@pytest.mark.parametrize(
    ("language", "marked"),
    [
        ("python", "x = 1  # a | b\n"),
        ("javascript", "f(); // a |, b\n"),
        ("c", "int x; /* a | b */\n"),
        ("go", "x := 1 // a |(b)\n"),
    ],
)
def test_inside_comment_before_more_text_is_none(language: str, marked: str) -> None:
    assert shape_at(marked, language) == ShapeDecision(Shape.NONE, "inside-comment")


@pytest.mark.parametrize(
    ("language", "marked"),
    [
        ("python", "# explain |\ny = 2\n"),
        ("javascript", "// explain |\nf();\n"),
        ("c", "// explain|\nint x;\n"),
        ("rust", "/// Docs for |\nfn f() {}\n"),
    ],
)
def test_end_of_comment_line_continues_the_comment(language: str, marked: str) -> None:
    assert shape_at(marked, language) == ShapeDecision(Shape.LINE, "comment-continuation")


def test_comment_after_a_complete_statement_may_continue_below() -> None:
    # Issue 13: after `x = 1  # note` the model may go on with the next lines.
    decision = shape_at("x = 1  # explain |\ny = 2\n", "python")
    assert decision == ShapeDecision(Shape.CONTINUATION, "comment-continuation")
    assert shape_at("x = (1,  # explain |\n  2)\n", "python").shape is Shape.LINE


def test_after_a_closed_block_comment_is_code() -> None:
    assert shape_at("int x; /* done */|\n", "c").reason == "end-of-line"


def test_docstring_end_of_line_is_line_elsewhere_in_string_none() -> None:
    source = 'def f():\n    """Summary.\n\n    More |\n    """\n'
    assert shape_at(source, "python") == ShapeDecision(Shape.LINE, "docstring-continuation")
    assert shape_at('x = """a\nb | c\n"""\n', "python").reason == "inside-string"
    assert shape_at('x = """a\nb |\n"""\n', "python").reason == "inside-string"


@pytest.mark.parametrize(
    ("language", "marked"),
    [
        ("python", 'x = f"{foo(|)}"\n'),
        ("javascript", "const s = `a ${f(|)} b`;\n"),
    ],
)
def test_code_inside_interpolation_is_code(language: str, marked: str) -> None:
    assert shape_at(marked, language) == ShapeDecision(Shape.LINE, "text-after-cursor")


def test_cursor_just_before_or_after_a_string_is_code() -> None:
    assert shape_at('x = |"abc"\n', "python").reason == "text-after-cursor"
    assert shape_at('x = "abc"|\n', "python").reason == "end-of-line"


def test_without_language_strings_are_not_detected() -> None:
    # No tree, no grammar: the text rules alone.
    assert shape_at('x = "a |"\n', None).shape is Shape.LINE
    assert shape_at('x = "a |"\n', "no-such-language").shape is Shape.LINE


def test_uses_the_given_tree() -> None:
    text = 'x = "abc"\n'
    tree = new_parser("python").parse(text.encode())
    assert decide_shape(text, 6, "python", tree).shape is Shape.NONE


def test_non_ascii_before_cursor_maps_to_the_right_node() -> None:
    # Columns are bytes in tree-sitter: é is two of them.
    assert shape_at('s = "é" + f(|)\n', "python").reason == "text-after-cursor"
    assert shape_at('s = "é |x"\n', "python").shape is Shape.NONE
    assert shape_at('s = "éé |"\n', "python").reason == "inside-string"


def test_a_2000_line_file_with_a_tree() -> None:
    body = "".join(f"def f{i}(x):\n    return x + {i}  # n\n\n" for i in range(667))
    text = body[: body.index("x + 600")] + "\n" + body[body.index("x + 600") :]
    assert text.count("\n") >= 2000
    tree = new_parser("python").parse(text.encode())
    offset = text.index("x + 600") - 1
    assert decide_shape(text, offset, "python", tree) == decide_shape(text, offset, "python")


def test_huge_document_without_a_tree_still_sees_the_string_at_the_cursor() -> None:
    # Past MAX_PARSE_CHARS only the lines before the cursor are parsed; the answer must
    # not change for a literal that opens within them.
    from cl_lsp.core.shape import MAX_PARSE_CHARS

    body = "def f(x):\n    return x + 1\n\n" * (MAX_PARSE_CHARS // 20)
    text = body + 'name = "hello ", x\n'
    assert len(text) > MAX_PARSE_CHARS
    cursor = text.rindex(" ")  # before `x`; 3 back is inside the string, after `hello`
    assert decide_shape(text, cursor - 3, "python").reason == "inside-string"
    assert decide_shape(body + "y = ", len(body) + 4, "python").shape is Shape.LINE


def test_one_enormous_line_is_treated_as_code() -> None:
    text = "x = [" + "1, " * 300_000
    assert decide_shape(text, len(text), "python").shape is Shape.LINE


@pytest.mark.parametrize(
    ("source", "language"),
    [
        ("def add(a, b):|\n\nprint(add(1, 2))\n", "python"),
        ("class A:\n    def f(self):|\n\n    def g(self):\n        pass\n", "python"),
        ("int add(int a, int b) {|\n}\n", "c"),
        ("function f(x) {|\n", "javascript"),
        ("fn main() {|\n}\n", "rust"),
    ],
)
def test_after_a_block_opener_the_body_comes(source: str, language: str) -> None:
    assert shape_at(source, language) == ShapeDecision(Shape.BLOCK, "block-opener")


@pytest.mark.parametrize(
    ("source", "language"),
    [
        ("def add(a, b):|\n    return a + b\n", "python"),  # the body is there already
        ("x = {|\n", "python"),  # a dict, not a block
        ('s = "a:"|\n', "python"),
        ("if (x) {|\n    y();\n}\n", "c"),
        ("echo {|\n", "bash"),
    ],
)
def test_not_a_block_opener(source: str, language: str) -> None:
    assert shape_at(source, language).reason == "end-of-line"


@pytest.mark.parametrize(
    "marked",
    [
        "x = 1|\n",
        "def f():\n    return x|\n\ndef g(): pass\n",
        "import os|\n",
        # The hole breaks the tree below the cursor: the line parses on its own.
        "def f():\n    if a:\n        b = list(a)|\n            c = (\n",
    ],
)
def test_end_of_a_complete_statement_is_continuation(marked: str) -> None:
    # Issue 13: a model that goes on below the line gets to show those lines.
    assert shape_at(marked, "python") == ShapeDecision(Shape.CONTINUATION, "end-of-line")


@pytest.mark.parametrize(
    ("marked", "language"),
    [
        ("x = foo(a,|\n", "python"),  # unfinished: the rest of the line only
        ("x = |\n", "python"),
        ("    @dec|\n    def f(): pass\n", "python"),
        ("f();|\n", "javascript"),  # brace languages keep LINE
    ],
)
def test_end_of_an_unfinished_line_stays_line(marked: str, language: str) -> None:
    assert shape_at(marked, language) == ShapeDecision(Shape.LINE, "end-of-line")
