"""The post-processing chain: each step on its own, then `clean` and `StreamGuard`."""

from __future__ import annotations

import pytest

from cl_lsp.core import postprocess as pp
from cl_lsp.core import syntax_guard as sg
from cl_lsp.core.block_scope import block_scope
from cl_lsp.core.languages import new_parser
from cl_lsp.core.postprocess import BracketContext, StreamGuard, clean
from cl_lsp.core.shape import Shape, decide_shape
from cl_lsp.core.suggestion import Suggestion
from tests.conftest import record_parses


def split(marked: str) -> tuple[str, str]:
    """prefix and suffix around the `|` in marked."""
    cursor = marked.index("|")
    return marked[:cursor], marked[cursor + 1 :]


def context(marked: str, language: str | None) -> BracketContext:
    return BracketContext.around(*split(marked), language)


def fill(marked: str, raw: str, language: str | None, max_lines: int = 12) -> str:
    """The document after inserting clean(raw) at the `|`, shape decided as the server does."""
    prefix, suffix = split(marked)
    shape = decide_shape(prefix + suffix, len(prefix), language).shape
    result = clean(raw, prefix, suffix, shape, language, max_lines)
    return prefix + result.text + suffix[result.replace_suffix_chars :]


# --------------------------------------------------------------------------- lexing


def test_lex_skips_brackets_in_strings_and_comments() -> None:
    text = 'f("(", \'[\')  # {\nx = """\n(\n"""'
    assert [ch for _, ch in pp.lex(text, "python").brackets] == ["(", ")"]
    assert pp.lex(text, "python").multiline_literals == [(text.index('"""'), len(text))]


def test_lex_per_language_comments() -> None:
    assert [ch for _, ch in pp.lex("a // b ( \n/* { */ c)", "javascript").brackets] == [")"]
    assert [ch for _, ch in pp.lex("a // b (", "python").brackets] == ["("]  # floor division
    assert [ch for _, ch in pp.lex("x = `(${a})`", "go").brackets] == []


def test_lex_rust_lifetimes_are_not_char_literals() -> None:
    brackets = pp.lex("fn f<'a>(x: &'a str) -> char { '(' }", "rust").brackets
    assert "".join(ch for _, ch in brackets) == "(){}"


def test_lex_unterminated_string_ends_at_line_end() -> None:
    assert [ch for _, ch in pp.lex('x = "abc\ny = (1)', "python").brackets] == ["(", ")"]


def test_bracket_errors_counts_mismatches_and_respects_edges() -> None:
    assert pp.bracket_errors("f(a[1])", None) == 0
    assert pp.bracket_errors("f(a[1)", None) == 1
    assert pp.bracket_errors("f(a))", None) == 1
    assert pp.bracket_errors("f(a))", None, count_unopened=False) == 0
    assert pp.bracket_errors("f((a)", None, count_unclosed=False) == 0


def test_bracket_context_is_the_enclosing_block() -> None:
    marked = (
        "def a():\n    return (1)\n\ndef f(x):\n    y = g(x,\n          |)\n    return y\n\nz = 1\n"
    )
    ctx = context(marked, "python")
    # From the last line indented less than the cursor's line to the next such line.
    assert ctx.before == "y = g(x,\n          "
    assert ctx.after == ")\n"
    assert ctx.before_complete and ctx.after_complete
    assert ctx.errors("x") == 0
    assert ctx.errors("x)") == 1
    assert ctx.errors("x)", replace=1) == 0


def test_bracket_context_brace_language_ends_after_the_closer() -> None:
    marked = "int f(void) {\n    if (x) {\n        |\n    } else {\n        y();\n    }\n}\n"
    ctx = context(marked, "c")
    assert ctx.before == "if (x) {\n        "
    assert ctx.after == "\n    } "  # `} else {`: up to the closer, not the new block
    assert ctx.errors("g();") == 0
    assert ctx.errors("g(); }") == 1


# --------------------------------------------------------------------------- small steps


def test_normalize_newlines() -> None:
    assert pp.normalize_newlines("a\r\nb\rc\n") == "a\nb\nc\n"


def test_first_line() -> None:
    assert pp.first_line("foo(a)\n    bar()") == "foo(a)"
    assert pp.first_line("foo(a)") == "foo(a)"
    assert pp.first_line("\nfoo") == ""


def test_strip_trailing_whitespace_and_blank_lines() -> None:
    assert pp.strip_trailing_whitespace("a  \n  b\t\n") == "a\n  b\n"
    assert pp.drop_trailing_blank_lines("a\nb\n\n  \n") == "a\nb"
    assert pp.drop_trailing_blank_lines("") == ""


def test_limit_lines() -> None:
    assert pp.limit_lines("1\n2\n3\n4", 2) == "1\n2"
    assert pp.limit_lines("1\n2", 0) == "1"


def test_indent_width_counts_tabs_as_four() -> None:
    assert pp.indent_width("\t  x") == 6
    assert pp.indent_width("    ") == 4


# --------------------------------------------------------------------------- scope


def test_cut_at_dedent_python() -> None:
    text = "x = 1\n    if x:\n        y = 2\n    return y\ndef other():\n    pass"
    assert (
        pp.cut_at_dedent(text, "    ", "python") == "x = 1\n    if x:\n        y = 2\n    return y"
    )


def test_cut_at_dedent_uses_the_first_line_as_typed() -> None:
    # Cursor at column 0 of an empty line; the model indents its first line itself.
    text = "    x = 1\n    return x\n\nclass B:"
    assert pp.cut_at_dedent(text, "", "python") == "    x = 1\n    return x\n"


def test_cut_at_dedent_skips_multiline_strings_and_keeps_blank_lines() -> None:
    text = 'x = """\nat column zero\n"""\n\n    y = 1\nz = 2'
    assert pp.cut_at_dedent(text, "    ", "python") == 'x = """\nat column zero\n"""\n\n    y = 1'


def test_cut_at_dedent_comments_go_with_what_follows() -> None:
    kept = "a()\n# note\n    b()"
    assert pp.cut_at_dedent(kept, "    ", "python") == kept
    assert pp.cut_at_dedent("a()\n# helper\ndef g():", "    ", "python") == "a()"
    assert pp.cut_at_dedent("a()\n# trailing", "    ", "python") == "a()"


def test_cut_at_dedent_c_preprocessor_and_labels_are_not_scope() -> None:
    text = "a();\n#ifdef X\n    b();\n#endif\nout:\n    c();\n}"
    assert pp.cut_at_dedent(text, "    ", "c") == text[: text.rindex("\n")]


@pytest.mark.parametrize("language", ["javascript", "go", "c"])
def test_cut_at_dedent_brace_languages(language: str) -> None:
    text = "a();\n  if (x) {\n    b();\n  }\n}\n\nfunction other() {"
    assert pp.cut_at_dedent(text, "  ", language) == "a();\n  if (x) {\n    b();\n  }"


def test_cut_at_negative_depth_drops_a_closer_the_suffix_has() -> None:
    marked = "function f() {\n  |\n}\n"
    ctx = context(marked, "javascript")
    assert pp.cut_at_negative_depth("a();\n  b(); }", ctx) == "a();\n  b();"
    assert pp.cut_at_negative_depth("a();\n}", ctx) == "a();"


def test_cut_at_negative_depth_keeps_a_closer_the_code_needs() -> None:
    # The suffix does not close the `if`: the completion's `}` is needed.
    marked = "func f() {\n\tif x {\n\t\treturn\n\t|\n\treturn\n}\n"
    assert pp.cut_at_negative_depth("}", context(marked, "go")) == "}"


def test_cut_at_negative_depth_picks_the_best_closer() -> None:
    marked = "func f() {\n\tif x {\n\t\treturn\n\t|\n\treturn\n}\n"
    assert pp.cut_at_negative_depth("}\n\t}\n\t}", context(marked, "go")) == "}"


def test_cut_at_negative_depth_python_brackets() -> None:
    marked = "x = foo(\n    a,\n    |\n)\n"
    assert (
        pp.cut_at_negative_depth("b,\n    c)\nprint(x)", context(marked, "python")) == "b,\n    c"
    )


# --------------------------------------------------------------------------- repetition


def test_drop_repeated_lines_keeps_one_copy() -> None:
    assert pp.drop_repeated_lines("a\nb\nb\nb\nb") == "a\nb"
    assert pp.drop_repeated_lines("a\nb\nb") == "a\nb\nb"  # twice is ordinary code


def test_drop_repeated_lines_units_of_several_lines() -> None:
    assert pp.drop_repeated_lines("x\ny\nx\ny\nx\ny\nx") == "x\ny"


def test_drop_repeated_lines_compares_the_first_line_as_typed() -> None:
    text = "return x\n    return x\n    return x"
    assert pp.drop_repeated_lines(text, "    ") == "return x"


def test_drop_trailing_loop() -> None:
    assert pp.drop_trailing_loop("x = " + "foo(" * 12) == "x = foo("
    assert pp.drop_trailing_loop("# " + "-" * 60) == "# " + "-" * 60  # one char: a ruler
    assert pp.drop_trailing_loop("x = f(a)") == "x = f(a)"


def test_drop_trailing_loop_spares_data_the_code_already_repeats() -> None:
    row = "255, " * 12
    assert pp.drop_trailing_loop(row, context=row) == row
    assert pp.drop_trailing_loop(row) == "255,"


# --------------------------------------------------------------------------- suffix overlap


def test_trim_suffix_overlap_exact() -> None:
    marked = "def f(x):\n    |\n    return y\n"
    prefix, suffix = split(marked)
    ctx = BracketContext.around(prefix, suffix, "python")
    assert pp.trim_suffix_overlap("y = x + 1\n    return y", suffix, ctx) == "y = x + 1"
    assert pp.trim_suffix_overlap("y = x + 1\n    ret", suffix, ctx) == "y = x + 1"


def test_trim_suffix_overlap_whitespace_insensitive_in_brace_languages() -> None:
    marked = "function f() {\n  |\n  return g(a, b);\n}\n"
    prefix, suffix = split(marked)
    ctx = BracketContext.around(prefix, suffix, "javascript")
    assert pp.trim_suffix_overlap("x();\n    return g(a,b);\n}", suffix, ctx) == "x();"


def test_trim_suffix_overlap_python_indentation_matters() -> None:
    marked = "def f(x):\n    if x:\n        |\n    return y\n"
    prefix, suffix = split(marked)
    ctx = BracketContext.around(prefix, suffix, "python")
    text = "y = 1\n        return y"
    assert pp.trim_suffix_overlap(text, suffix, ctx) == text


def test_trim_suffix_overlap_line_equal_to_next_suffix_line() -> None:
    marked = "function f() {\n  |\n  const total = compute(items);\n  use(total);\n}\n"
    prefix, suffix = split(marked)
    ctx = BracketContext.around(prefix, suffix, "javascript")
    text = "const items = load();\n  const total = compute(items);\n  log(total);"
    assert pp.trim_suffix_overlap(text, suffix, ctx) == "const items = load();"


def test_trim_suffix_overlap_needs_more_than_a_short_common_line() -> None:
    marked = "func f() {\n\t|\n\t\treturn\n\t}\n}\n"
    prefix, suffix = split(marked)
    ctx = BracketContext.around(prefix, suffix, "go")
    text = "if a {\n\t\treturn\n\t}\n\tif b {"
    assert pp.trim_suffix_overlap(text, suffix, ctx) == text


def test_trim_suffix_overlap_a_closer_only_when_brackets_say_so() -> None:
    marked = "function f() {\n  if (a) {\n    |\n  }\n}\n"
    prefix, suffix = split(marked)
    ctx = BracketContext.around(prefix, suffix, "javascript")
    assert pp.trim_suffix_overlap("b();\n  }", suffix, ctx) == "b();"
    nested = "if (b) {\n      c();\n    }"
    assert pp.trim_suffix_overlap(nested, suffix, ctx) == nested


# --------------------------------------------------------------------------- first line, balance


def test_normalize_first_indent_line_shape() -> None:
    assert pp.normalize_first_indent(" 1", "x = ") == "1"
    assert pp.normalize_first_indent("  1", "x = ") == "  1"  # alignment
    assert pp.normalize_first_indent(" 1", "x =  ") == " 1"
    assert pp.normalize_first_indent(" 1", "x =") == " 1"


def test_normalize_first_indent_block_shape() -> None:
    assert pp.normalize_first_indent("    y = 1", "def f():\n    ") == "y = 1"
    assert pp.normalize_first_indent("    y = 1", "def f():\n") == "    y = 1"
    assert pp.normalize_first_indent("  y = 1", "def f():\n  if x:\n  ") == "  y = 1"


@pytest.mark.parametrize(
    ("marked", "text", "expected", "language"),
    [
        ("print(len(|))\n", "x)", ("x)", 1), "python"),  # the auto-inserted `)` is replaced
        ("print(len(|))\n", "x))", ("x))", 2), "python"),
        ("print(len(|))\n", "x", ("x", 0), "python"),
        ("x = foo(|\n", "a, b)", ("a, b)", 0), "python"),  # nothing to replace: keep
        ("f(|);\n", "a);", ("a);", 2), "javascript"),
        ("if (|) {\n", "x > 0)", ("x > 0)", 1), "c"),
        ("foo(a,\n    b|\n)\n", "))", ("", 0), "python"),  # both extra: dropped
    ],
)
def test_balance_against_suffix(
    marked: str, text: str, expected: tuple[str, int], language: str
) -> None:
    prefix, suffix = split(marked)
    ctx = BracketContext.around(prefix, suffix, language)
    assert pp.balance_against_suffix(text, suffix, ctx) == expected


def test_keep_inner_space() -> None:
    assert pp.keep_inner_space("return", " ", "(a + b)\n", 0) == "return "
    assert pp.keep_inner_space("return", " ", "\n", 0) == "return"
    assert pp.keep_inner_space("f(x)", " ", ")\n", 1) == "f(x)"


# --------------------------------------------------------------------------- syntax guard


def test_syntax_guard_cuts_back_to_lines_that_parse() -> None:
    prefix, suffix = split("def f(x):\n    |\n    return x\n")
    text = "y = x + 1\n    z = g(y,"
    assert pp.syntax_guard(text, 0, prefix, suffix, "python") == ("y = x + 1", 0)


def test_syntax_guard_keeps_good_code_and_skips_unknown_languages() -> None:
    prefix, suffix = split("def f(x):\n    |\n")
    assert pp.syntax_guard("return x", 0, prefix, suffix, "python") == ("return x", 0)
    assert pp.syntax_guard("if y:", 0, prefix, suffix, None) == ("if y:", 0)


def test_syntax_guard_with_a_replaced_closer_and_a_given_tree() -> None:
    prefix, suffix = split("x = foo(|)\n")
    tree = new_parser("python").parse((prefix + suffix).encode())
    assert pp.syntax_guard("a)", 1, prefix, suffix, "python", tree) == ("a)", 1)
    assert pp.syntax_guard("a", 0, prefix, suffix, "python", tree) == ("a", 0)


def test_syntax_guard_c_macros_do_not_count_inside_the_completion() -> None:
    prefix, suffix = split("static int f(void) {\n    |\n}\n")
    text = "CHECK(x, 8)\n    int y = 1;"
    assert pp.syntax_guard(text, 0, prefix, suffix, "c") == (text, 0)


def test_count_errors() -> None:
    tree = new_parser("python").parse(b"def f(:\n    pass\n")
    assert sg.count_errors(tree) >= 1
    assert sg.count_errors(new_parser("python").parse(b"x = 1\n")) == 0


# --------------------------------------------------------------------------- the chain


@pytest.mark.parametrize(
    ("marked", "raw", "expected"),
    [
        # LINE: only the rest of the line; the auto-closed paren replaced, not doubled.
        ("x = max(|)\n", "a, b)\ny = 2\n", "x = max(a, b)\n"),
        ("x = |\n", "compute(1)  \n\nmore", "x = compute(1)\n"),
        # BLOCK: stops at the dedent, drops the copy of the next lines.
        (
            "def f(x):\n    |\n    return y\n",
            "y = x * 2\n    return y\n\ndef g():\n    pass",
            "def f(x):\n    y = x * 2\n    return y\n",
        ),
        # BLOCK: a loop on the last line.
        (
            "def f():\n    |\n",
            "a = 1\n    b = 2\n    b = 2\n    b = 2\n",
            "def f():\n    a = 1\n    b = 2\n",
        ),
        # Whitespace-only output.
        ("x = |\n", "   \n  ", "x = \n"),
        # Mid-word: nothing.
        ("x = fo|o\n", "bar", "x = foo\n"),
    ],
)
def test_clean_python(marked: str, raw: str, expected: str) -> None:
    assert fill(marked, raw, "python") == expected


@pytest.mark.parametrize(
    ("marked", "raw", "expected"),
    [
        ("const a = [1, |];\n", "2, 3];", "const a = [1, 2, 3];\n"),
        (
            "function f(a) {\n  |\n}\n",
            "if (a) {\n    return 1;\n  }\n  return 0;\n}\n\nfunction g() {",
            "function f(a) {\n  if (a) {\n    return 1;\n  }\n  return 0;\n}\n",
        ),
        ("function f(a) {\n  |\n}\n", "return a + 1;}", "function f(a) {\n  return a + 1;\n}\n"),
        (
            "items.forEach((x) => {\n  |\n});\n",
            "use(x);\n});\n\nfoo();",
            "items.forEach((x) => {\n  use(x);\n});\n",
        ),
    ],
)
def test_clean_javascript(marked: str, raw: str, expected: str) -> None:
    assert fill(marked, raw, "javascript") == expected


@pytest.mark.parametrize(
    ("marked", "raw", "expected"),
    [
        (
            "int f(int x) {\n    return g(|);\n}\n",
            "x, 1);",
            "int f(int x) {\n    return g(x, 1);\n}\n",
        ),
        (
            "int f(int x) {\n    |\n}\n",
            "int y = x * 2;\n    return y;\n}\n\nint main(void) {",
            "int f(int x) {\n    int y = x * 2;\n    return y;\n}\n",
        ),
        (
            "void f(void) {\n    for (;;) {\n        |\n    }\n}\n",
            "step();\n    }\n}",
            "void f(void) {\n    for (;;) {\n        step();\n    }\n}\n",
        ),
    ],
)
def test_clean_c(marked: str, raw: str, expected: str) -> None:
    assert fill(marked, raw, "c") == expected


@pytest.mark.parametrize(
    ("marked", "raw", "expected"),
    [
        (
            "func f() error {\n\tif err != nil {\n\t\treturn err\n\t|\n\treturn nil\n}\n",
            "}\n\treturn nil\n}",
            "func f() error {\n\tif err != nil {\n\t\treturn err\n\t}\n\treturn nil\n}\n",
        ),
        ("func f() {\n\tx := m[|]\n}\n", "key]", "func f() {\n\tx := m[key]\n}\n"),
    ],
)
def test_clean_go(marked: str, raw: str, expected: str) -> None:
    assert fill(marked, raw, "go") == expected


def test_clean_respects_max_lines() -> None:
    raw = "\n    ".join(f"x{i} = {i}" for i in range(20))
    assert (
        fill("def f():\n    |\n", raw, "python", max_lines=3)
        == "def f():\n    x0 = 0\n    x1 = 1\n    x2 = 2\n"
    )


def test_clean_none_shape_and_empty_results() -> None:
    assert clean("x", "a", "b", Shape.NONE, None) == Suggestion("", 0)
    assert clean("", "x = ", "\n", Shape.LINE, None) == Suggestion("", 0)
    assert clean("\nfoo()", "x = ", "\n", Shape.LINE, "python") == Suggestion("", 0)


def test_clean_without_language() -> None:
    assert fill("x = f(|)\n", "a)", None) == "x = f(a)\n"
    assert fill("def f():\n    |\nz = 1\n", "y = 1\n    return y\nz = 1", None) == (
        "def f():\n    y = 1\n    return y\nz = 1\n"
    )


def test_clean_crlf_output() -> None:
    assert (
        fill("def f():\n    |\n", "a = 1\r\n    b = 2\r\n", "python")
        == "def f():\n    a = 1\n    b = 2\n"
    )


def test_clean_keeps_space_before_code_on_the_line() -> None:
    assert fill("x = |(a + b)\n", "not ", "python") == "x = not (a + b)\n"


def test_clean_comment_continuation() -> None:
    assert fill("x = 1  # the |\ny = 2\n", "answer (see below)\nz", "python") == (
        "x = 1  # the answer (see below)\ny = 2\n"
    )


def test_clean_on_a_large_file_with_a_tree() -> None:
    body = "".join(f"def f{i}(x):\n    return (x + {i})\n\n" for i in range(667))
    cursor = body.index("def f600")
    prefix, suffix = body[:cursor] + "def g(y):\n    ", "\n\n" + body[cursor:]
    tree = new_parser("python").parse((prefix + suffix).encode())
    raw = "z = y * 2\n    return z\n\ndef h():\n    pass"
    result = clean(raw, prefix, suffix, Shape.BLOCK, "python", tree=tree)
    assert result == Suggestion("z = y * 2\n    return z", 0)


# --------------------------------------------------------------------------- streaming


def stream(marked: str, raw: str, language: str | None, piece: int = 2) -> str:
    prefix, suffix = split(marked)
    shape = decide_shape(prefix + suffix, len(prefix), language).shape
    guard = StreamGuard(prefix, suffix, shape, language, max_lines=12)
    for start in range(0, len(raw), piece):
        if guard.feed(raw[start : start + piece]):
            return raw[: start + piece]
    return raw


def test_stream_line_stops_at_newline() -> None:
    assert stream("x = f(|)\n", "a, b)\ny = 3\nz = 4\n", "python", piece=1) == "a, b)\n"


def test_stream_block_stops_at_dedent() -> None:
    raw = "y = 1\n    return y\n\ndef other():\n    pass\n" + "x = 1\n" * 20
    got = stream("def f():\n    |\n", raw, "python")
    assert got.startswith("y = 1\n    return y\n\ndef other():")
    assert len(got) < len(raw) - 100


def test_stream_block_stops_on_a_loop() -> None:
    raw = "a = 1\n" + "    b = 2\n" * 30
    got = stream("def f():\n    |\n", raw, "python")
    assert got.count("b = 2") <= 4


def test_stream_block_stops_when_copying_the_suffix() -> None:
    marked = "function f() {\n  |\n  const total = compute(items);\n  use(total);\n}\n"
    raw = "const items = load();\n  const total = compute(items);\n  use(total);\n}\n" * 3
    got = stream(marked, raw, "javascript")
    assert got.count("\n") <= 3


def test_stream_block_stops_at_max_lines() -> None:
    raw = "".join(f"    x{i} = {i}\n" for i in range(40))
    got = stream("def f():\n|\n", raw, "python")
    assert got.count("\n") == 12


def test_stream_character_loop_and_none_shape() -> None:
    assert len(stream("x = |\n", "foo(" * 100, "python")) < 100
    guard = StreamGuard("ab", "cd", Shape.NONE, None)
    assert guard.feed("x")


def test_stream_then_clean_equals_clean() -> None:
    marked = "def f(x):\n    |\n    return y\n"
    raw = "y = x * 2\n    return y\n\ndef g():\n    pass\n"
    prefix, suffix = split(marked)
    streamed = stream(marked, raw, "python")
    assert clean(streamed, prefix, suffix, Shape.BLOCK, "python") == clean(
        raw, prefix, suffix, Shape.BLOCK, "python"
    )


def test_syntax_guard_without_a_tree_parses_a_window_of_a_huge_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A 10 MB document has no kept tree: parsing all of it per answer took seconds.
    parsed = record_parses(monkeypatch, sg)  # the syntax guard's parses
    big = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(300_000))
    result = clean("1\n", big + "y = ", "\nprint(y)\n", Shape.LINE, "python")
    assert result.text == "1"
    assert parsed and max(parsed) <= sg.GUARD_WINDOW_BYTES + 100, parsed


# --------------------------------------------------------------------------- issue 13: scope


LOOP = "def total(items):\n    t = 0\n    for x in items:\n        |\n\n\ndef other():\n    pass\n"
LOOP_TRUTH = "t += x\n    return t"


def test_block_keeps_the_dedent_to_the_functions_return() -> None:
    # Issue 13: a middle that ends the loop body and goes on with the function's `return`
    # was cut at the dedent; now it stops only at the end of the function.
    expected = LOOP.replace("|", LOOP_TRUTH)
    assert fill(LOOP, LOOP_TRUTH, "python") == expected
    # ...and still stops at each overshoot: the suffix, an unrelated top-level def.
    prefix, suffix = split(LOOP)
    assert fill(LOOP, LOOP_TRUTH + suffix, "python") == expected
    assert fill(LOOP, LOOP_TRUTH + "\n\n\ndef unrelated(a):\n    return a", "python") == expected


def test_block_stops_at_the_end_of_a_method() -> None:
    marked = "class A:\n    def f(self):\n        if self.x:\n            |\n\n    def g(self):\n"
    raw = "y = 1\n        return y\n\n    def h(self):\n        return 2"
    assert fill(marked, raw, "python") == marked.replace("|", "y = 1\n        return y")


def test_block_stays_above_the_level_the_suffix_goes_on_at() -> None:
    # The suffix continues inside the outer loop: the completion may not leave it.
    marked = "def f(rows):\n    for r in rows:\n        for c in r:\n            |\n"
    marked += "        done(r)\n"
    raw = "use(c)\n        log(r)\n    return rows"
    assert fill(marked, raw, "python") == marked.replace("|", "use(c)\n        log(r)")


def test_module_level_block_stops_at_a_new_top_level_definition() -> None:
    assert fill("x = 1\n|\n", "y = 2\n\ndef g():\n    pass", "python") == "x = 1\ny = 2\n"
    # ...unless the definition's header is the hole and its body the suffix.
    marked = '"""Doc."""\n|\n    """Body."""\n    x = 1\n'
    raw = "import os\n\n\nclass A(os.PathLike):"
    assert fill(marked, raw, "python") == marked.replace("|", raw)


def test_cut_at_dedent_with_a_scope() -> None:
    scope = block_scope("def f():\n    for a in b:\n        ", "\n\ndef g():\n", "python")
    assert scope is not None and scope.headers == (0,) and scope.next_indent == 0
    text = "x()\n    y()\n\ndef h():"
    assert pp.cut_at_dedent(text, "        ", "python", scope) == "x()\n    y()\n"
    assert pp.cut_at_dedent(text, "        ", "python") == "x()"  # no scope: the old rule


def test_scope_found_by_indentation_when_the_parse_is_broken() -> None:
    prefix = "class A:\n    def f(self):\n        x = (1,\n        "
    scope = block_scope(prefix, "\n    def g(self): pass\n", "python")
    assert scope is not None and scope.headers == (4, 0) and scope.floor(8) == 5
    assert block_scope("x", "y", "javascript") is None  # brace languages: old rule


def test_normalize_first_indent_completes_a_partly_typed_level() -> None:
    assert pp.normalize_first_indent("   y = 1", "def f():\n    if x:\n             ") == "   y = 1"
    assert pp.normalize_first_indent("    y = 1", "def f():\n    if x:\n        ") == "y = 1"


# --------------------------------------------------------------------------- continuation


CONT = "def f(a):\n    b = a + 1|\n    return b\n"


def test_continuation_shows_the_lines_below() -> None:
    prefix, suffix = split(CONT)
    shape = decide_shape(prefix + suffix, len(prefix), "python").shape
    assert shape is Shape.CONTINUATION
    expected = Suggestion("\n    c = b * 2")
    assert clean("\n    c = b * 2", prefix, suffix, shape, "python") == expected
    # The copy of the suffix goes; extending the line keeps the line only.
    assert clean("\n    c = b\n    return b\n", prefix, suffix, shape, "python").text == (
        "\n    c = b"
    )
    assert clean(" * 2\n    c = b", prefix, suffix, shape, "python").text == " * 2"
    assert clean("\n", prefix, suffix, shape, "python") == Suggestion("")


def test_stream_continuation_goes_past_the_first_newline_and_stops_at_the_scope() -> None:
    raw = "\n    c = b * 2\n\ndef g():\n    pass\n" + "x = 1\n" * 20
    got = stream(CONT, raw, "python")
    assert got.startswith("\n    c = b * 2\n\ndef g():")
    assert len(got) < len(raw) - 100
    assert stream(CONT, " * 2\n    c = 1\n", "python", piece=1) == " * 2\n"
    prefix, suffix = split(CONT)
    assert clean(got, prefix, suffix, Shape.CONTINUATION, "python") == clean(
        raw, prefix, suffix, Shape.CONTINUATION, "python"
    )


def test_continuation_in_a_large_file_uses_the_documents_tree() -> None:
    # The lines below are judged on the tree with the newline typed in: statement
    # boundaries, not a character window that may start inside a docstring.
    filler = "".join(
        f'def f{i}(x):\n    """Doc\n    {i}."""\n    return x\n\n\n' for i in range(1500)
    )
    prefix = filler + "def g(a):\n    b = a + 1"
    suffix = "\n\n\ndef h():\n    pass\n"
    tree = new_parser("python").parse((prefix + suffix).encode())
    shape = decide_shape(prefix + suffix, len(prefix), "python", tree).shape
    assert shape is Shape.CONTINUATION and len(prefix) > sg.GUARD_FULL_BYTES
    result = clean("\n    return b\n\ndef h():", prefix, suffix, shape, "python", tree=tree)
    assert result == Suggestion("\n    return b")


def test_block_scope_without_a_tree_does_not_parse_a_huge_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cl_lsp.core import block_scope as module

    parsed = record_parses(monkeypatch, module)
    big = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(300_000))
    scope = module.block_scope(big + "def g():\n    for a in b:\n        ", "\n", "python")
    assert scope is not None and scope.headers == (0,)  # found by the indentation scan
    assert not parsed


def test_block_headers_may_reopen_the_level_the_suffix_goes_on_at() -> None:
    # `else:` dips below the level the suffix goes on at and opens it again: kept.
    # Plain code there would leave the suffix stranded: cut.
    marked = (
        "def f(cols):\n    for col in cols:\n        if col:\n            if x:\n"
        "                h += 1|\n                u(col)\n    return h\n"
    )
    raw = "\n            else:\n                h -= 1\n        else:\n            try:\n"
    raw += "                t(col)"
    prefix, suffix = split(marked)
    shape = decide_shape(prefix + suffix, len(prefix), "python").shape
    assert clean(raw, prefix, suffix, shape, "python").text == raw
    stranded = "\n            else:\n                h -= 1\n        z = 0\n            t(col)"
    expected = "\n            else:\n                h -= 1"
    assert clean(stranded, prefix, suffix, shape, "python").text == expected
