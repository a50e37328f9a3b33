"""Turn a model's raw fill-in-the-middle output into what the editor should insert.

A chain of small pure steps composed by `clean`; `StreamGuard` runs the cheap ones while
tokens arrive so the engine can stop generating as soon as the answer is complete.

Rule for text the completion shares with the rest of the cursor line (an auto-inserted
`)`, a `;`): the completion keeps it and `Suggestion.replace_suffix_chars` says how many
characters after the cursor the insertion replaces, so the editor shows one copy and
inline-completion clients can render the closer as already typed. Overlap with later
lines is cut from the completion instead (replace ranges never cross a line).

About 750 lines on purpose: the steps share the small lexer and the text helpers at the
top, and `clean` and `StreamGuard` must apply them in the same order; the syntax guard,
the one part with a life of its own, is `syntax_guard.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import tree_sitter as ts

from cl_lsp.core.suggestion import EMPTY, Suggestion

from .block_scope import BlockScope, block_scope, opens_block, starts_top_level_definition
from .languages import new_parser, spec_by_name
from .shape import Shape
from .syntax_guard import point_after, syntax_guard

OPENERS = "([{"
CLOSERS = ")]}"
MATCHING = {")": "(", "]": "[", "}": "{"}
# Caps on the code around the cursor that the bracket checks read.
REGION_LINES = 400
REGION_CHARS = 20_000
LOOP_CONTEXT_CHARS = 400  # the code before the cursor a repeating pattern is checked in
OVERLAP_CHARS = 4_000  # how far into the suffix a completion's lines are compared
MIN_EVIDENCE = 1  # letters/digits an overlap needs before it may cut on a bracket tie
RUN_EXTRA_EVIDENCE = 9  # more for lines not at the completion's end or re-indented




# --------------------------------------------------------------------------- lexing
# A tiny per-language lexer: enough to skip brackets inside strings and comments and to
# know whether a line starts inside a multi-line literal. Unterminated literals end at
# the end of their line (or text, for multi-line kinds) so one typo cannot swallow a file.

_DQ = r'"(?:\\.|[^"\\\n])*(?:"|(?=\n)|\Z)'
_SQ = r"'(?:\\.|[^'\\\n])*(?:'|(?=\n)|\Z)"
_DQ_MULTI = r'"(?:\\[\s\S]|[^"\\])*(?:"|\Z)'
_SQ_MULTI = r"'(?:\\[\s\S]|[^'\\])*(?:'|\Z)"
_CHAR = r"'(?:\\u\{[0-9a-fA-F]{1,6}\}|\\x[0-9a-fA-F]{2}|\\[0-7]{1,3}|\\.|[^'\\\n])'"
_BACKTICK = r"`(?:\\[\s\S]|[^`\\])*(?:`|\Z)"
_SLASH_LINE = r"//[^\n]*"
_SLASH_BLOCK = r"/\*[\s\S]*?(?:\*/|\Z)"
_HASH_LINE = r"#[^\n]*"

_LITERALS: dict[str, tuple[str, ...]] = {
    "python": (r'"""[\s\S]*?(?:"""|\Z)', r"'''[\s\S]*?(?:'''|\Z)", _DQ, _SQ, _HASH_LINE),
    "javascript": (_SLASH_LINE, _SLASH_BLOCK, _DQ, _SQ, _BACKTICK),
    "c": (_SLASH_LINE, _SLASH_BLOCK, _DQ, _CHAR),
    "go": (_SLASH_LINE, _SLASH_BLOCK, _DQ, _CHAR, r"`[^`]*(?:`|\Z)"),
    "rust": (_SLASH_LINE, _SLASH_BLOCK, r'r#*"[\s\S]*?(?:"#*|\Z)', _DQ_MULTI, _CHAR),
    "php": (_SLASH_LINE, _SLASH_BLOCK, _HASH_LINE, _DQ_MULTI, _SQ_MULTI),
    "bash": (r"(?:(?<=\s)|^)#[^\n]*", _DQ_MULTI, _SQ_MULTI),
    "generic": (_DQ, _SQ),
}
_LEXICON_OF = {
    "typescript": "javascript",
    "tsx": "javascript",
    "cpp": "c",
    "java": "c",
    "c_sharp": "c",
}
_LINE_COMMENT = {"python": ("#",), "bash": ("#",), "php": ("//", "#", "/*", "*")}
_PREPROCESSOR_LANGUAGES = frozenset({"c", "cpp", "c_sharp"})
_LABEL_LANGUAGES = frozenset({"c", "cpp", "go"})
_LABEL = re.compile(r"\s*(?!default\b|case\b)[A-Za-z_]\w*:\s*$")


def _lexicon(language: str | None) -> str:
    if language is None:
        return "generic"
    name = _LEXICON_OF.get(language, language)
    return name if name in _LITERALS else "generic"


@cache
def _token_re(lexicon: str) -> re.Pattern[str]:
    literal = "|".join(_LITERALS[lexicon])
    return re.compile(rf"(?P<lit>{literal})|(?P<br>[()\[\]{{}}])", re.MULTILINE)


@dataclass(frozen=True)
class Lexed:
    brackets: list[tuple[int, str]]  # (offset, char) outside literals
    multiline_literals: list[tuple[int, int]]  # spans of literals crossing a newline


def lex(text: str, language: str | None) -> Lexed:
    brackets: list[tuple[int, str]] = []
    spans: list[tuple[int, int]] = []
    for match in _token_re(_lexicon(language)).finditer(text):
        if match.lastgroup == "br":
            brackets.append((match.start(), match.group()))
        elif "\n" in match.group():
            spans.append(match.span())
    return Lexed(brackets, spans)


def bracket_errors(
    text: str, language: str | None, count_unopened: bool = True, count_unclosed: bool = True
) -> int:
    """Unmatched or mismatched brackets in text (a recovering stack match).

    Closers of nothing and openers never closed count only where the text is known to
    start / end at a scope boundary.
    """
    stack: list[str] = []
    errors = 0
    for _, ch in lex(text, language).brackets:
        if ch in OPENERS:
            stack.append(ch)
        elif stack and stack[-1] == MATCHING[ch]:
            stack.pop()
        elif MATCHING[ch] in stack:
            # A closer for something deeper: the ones above it were never closed.
            while stack[-1] != MATCHING[ch]:
                stack.pop()
                errors += 1
            stack.pop()
        elif count_unopened:
            errors += 1
    return errors + (len(stack) if count_unclosed else 0)


@dataclass(frozen=True)
class BracketContext:
    """The code around the cursor that completions are weighed against: from the header
    of the enclosing block to its end, found by indentation. In well-formed code this
    region is bracket-balanced, so an option that unbalances it is worse."""

    before: str
    after: str
    before_complete: bool  # starts at a scope boundary (not at a size cap)
    after_complete: bool
    language: str | None

    @classmethod
    def around(cls, prefix: str, suffix: str, language: str | None) -> BracketContext:
        level = indent_width(cursor_line_before(prefix))
        start, start_known = _region_start(prefix, level)
        end, end_known = _region_end(suffix, level)
        if len(prefix) - start > REGION_CHARS:  # one huge line (minified code)
            start, start_known = len(prefix) - REGION_CHARS, False
        if end > REGION_CHARS:
            end, end_known = REGION_CHARS, False
        return cls(prefix[start:], suffix[:end], start_known, end_known, language)

    def errors(self, middle: str, replace: int = 0) -> int:
        return bracket_errors(
            self.before + middle + self.after[replace:],
            self.language,
            count_unopened=self.before_complete,
            count_unclosed=self.after_complete,
        )


def _is_boundary(line: str, level: int) -> bool:
    """A line that starts (or ends) the enclosing scope of a cursor at `level`."""
    stripped = line.lstrip()
    # Comments and preprocessor lines sit at any indentation: they bound nothing.
    if not stripped or stripped.startswith(("#", "//", "/*", "*")):
        return False
    return indent_width(line) < level if level > 0 else indent_width(line) == 0


def _leading_closers(line: str) -> int:
    """Length of the line's indentation plus the closers it starts with (`} else {`)."""
    i = len(line) - len(line.lstrip())
    while i < len(line) and (line[i] in CLOSERS or line[i] in " \t"):
        i += 1
    return i


def _region_start(prefix: str, level: int) -> tuple[int, bool]:
    end = prefix.rfind("\n")
    for _ in range(REGION_LINES):
        if end < 0 or len(prefix) - end > REGION_CHARS:
            break
        start = prefix.rfind("\n", 0, end) + 1
        line = prefix[start:end]
        if _is_boundary(line, level) and not (level == 0 and line.lstrip()[0] in CLOSERS):
            return start + _leading_closers(line), True
        end = start - 1
    if end < 0:
        return 0, True
    return end + 1, False


def _region_end(suffix: str, level: int) -> tuple[int, bool]:
    start = suffix.find("\n") + 1
    if start == 0:
        return len(suffix), True
    for _ in range(REGION_LINES):
        if start > REGION_CHARS:
            return start, False
        end = suffix.find("\n", start)
        line = suffix[start : end if end >= 0 else len(suffix)]
        if _is_boundary(line, level):
            return start + (_leading_closers(line) if line.lstrip()[0] in CLOSERS else 0), True
        if end < 0:
            return len(suffix), True
        start = end + 1
    return start, False


# --------------------------------------------------------------------------- text helpers


def indent_width(line: str) -> int:
    """Visual width of a line's leading whitespace (tabs count 4, consistently)."""
    stripped = line.lstrip(" \t")
    return len(line[: len(line) - len(stripped)].expandtabs(4))


def cursor_line_before(prefix: str) -> str:
    return prefix[prefix.rfind("\n") + 1 :]


def cursor_line_after(suffix: str) -> str:
    end = suffix.find("\n")
    return suffix if end < 0 else suffix[:end]


def _is_comment_line(line: str, language: str | None) -> bool:
    starts = _LINE_COMMENT.get(language or "", ("//", "/*", "*"))
    return line.lstrip().startswith(starts)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    return starts


def _lines_in_literal(text: str, language: str | None) -> list[bool]:
    """Per line of text: whether it starts inside a multi-line string or comment."""
    spans = lex(text, language).multiline_literals
    return [any(a < start < b for a, b in spans) for start in _line_starts(text)]


# --------------------------------------------------------------------------- the steps


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def first_line(text: str) -> str:
    """LINE shape: only what completes the current line."""
    end = text.find("\n")
    return text if end < 0 else text[:end]


def strip_trailing_whitespace(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n"))


def drop_trailing_blank_lines(text: str) -> str:
    lines = text.split("\n")
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def limit_lines(text: str, max_lines: int) -> str:
    return "\n".join(text.split("\n")[: max(1, max_lines)])


def cut_at_dedent(
    text: str, before_cursor: str, language: str | None, scope: BlockScope | None = None
) -> str:
    """BLOCK: end at the first code line that leaves the completion's scope.

    Without a scope: any line indented less than the completion's first line. With one
    (Python): a line below the enclosing function's or class's body or below the level
    the suffix goes on at (block headers aside: `else:` opens that level again), or a
    new top-level definition; dedents inside the function (a loop body, then the
    function's `return`) stay.
    Lines inside multi-line literals say nothing about scope and are skipped; inside
    brackets the completion opened, a line below the block's indentation still leaves the
    block. Dedented comments are kept only if code at the block's level follows them.
    C preprocessor lines and goto labels live at column 0 by convention.
    """
    lines = text.split("\n")
    in_literal = _lines_in_literal(text, language)
    floor: int | None = None
    hard = 0  # with a scope: headers may go below floor down to here
    pending: int | None = None  # first line of a run of dedented comments
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        width = indent_width(before_cursor + line) if i == 0 else indent_width(line)
        if floor is None:
            floor = width if scope is None else scope.floor(width)
            hard = floor if scope is None else scope.hard_floor(width)
            continue
        if in_literal[i] or _exempt_from_indent(line, language):
            continue
        new_definition = (
            scope is not None
            and width == 0
            and starts_top_level_definition(line)
            and not _header_of_suffix(lines[i:], scope)
        )
        header = scope is not None and hard <= width < floor and opens_block(line)
        if (width >= floor or header) and not new_definition:
            pending = None
        elif _is_comment_line(line, language):
            pending = i if pending is None else pending
        else:
            return "\n".join(lines[: i if pending is None else pending])
    return text if pending is None else "\n".join(lines[:pending])


def _header_of_suffix(lines: list[str], scope: BlockScope) -> bool:
    """The completion ends with a definition's header whose body is the suffix's
    indented code (a span cut before a class body): that definition is the hole's."""
    code = [line for line in lines if line.strip()]
    headers_only = all(starts_top_level_definition(line) or line[:1].isspace() for line in code)
    ends_header = bool(code) and code[-1].rstrip().endswith(":")
    return headers_only and ends_header and bool(scope.next_indent)


def _exempt_from_indent(line: str, language: str | None) -> bool:
    if language in _PREPROCESSOR_LANGUAGES and line.lstrip().startswith("#"):
        return True
    return language in _LABEL_LANGUAGES and bool(_LABEL.match(line))


def cut_at_negative_depth(text: str, context: BracketContext) -> str:
    """BLOCK: end where the completion closes a bracket opened before the cursor, when the
    code around already closes it. Each such closer is a candidate end; the one that
    balances the enclosing region best wins, the full text on a tie."""
    depth = 0
    best, best_errors = text, context.errors(text)
    for offset, ch in lex(text, context.language).brackets:
        depth += 1 if ch in OPENERS else -1
        if depth >= 0:
            continue
        depth = 0  # later closers are weighed against the next bracket out
        cut = _cut_before(text, offset)
        errors = context.errors(cut)
        if errors < best_errors:
            best, best_errors = cut, errors
    return best


def _cut_before(text: str, offset: int) -> str:
    """text before offset; the whole line goes when only indentation precedes the closer
    or when the line repeats the one before it (the start of a loop)."""
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    previous = text[: max(line_start - 1, 0)].rstrip().split("\n")[-1]
    if text[line_start:offset].strip() and line.rstrip() != previous:
        return text[:offset].rstrip()
    return text[: max(line_start - 1, 0)].rstrip()


def drop_repeated_lines(
    text: str, before_cursor: str = "", times: int = 3, max_unit: int = 4
) -> str:
    """Cut a loop: the same 1..max_unit non-blank lines repeated `times` times in a row.

    Keeps the first copy. Two identical lines in a row are ordinary code; three are a
    model stuck in a loop far more often than not. The first line is compared as it
    will stand in the document, after what is typed before the cursor.
    """
    lines = text.split("\n")
    code = [
        (i, before_cursor + line if i == 0 else line)
        for i, line in enumerate(lines)
        if line.strip()
    ]
    for start in range(len(code)):
        for unit in range(1, max_unit + 1):
            if start + unit * times > len(code):
                break
            first = [line for _, line in code[start : start + unit]]
            if all(
                [line for _, line in code[start + k * unit : start + (k + 1) * unit]] == first
                for k in range(1, times)
            ):
                last_kept = code[start + unit - 1][0]
                return "\n".join(lines[: last_kept + 1])
    return text


def drop_trailing_loop(
    text: str, context: str = "", times: int = 8, min_chars: int = 40, max_unit: int = 32
) -> str:
    """Cut a character-level loop the text ends in (`foo(foo(foo(...`), keeping one copy.

    Only loops that run to the very end count: a model that finished on its own stops
    before that, one stuck in a loop runs into the token limit. A pattern the code just
    before the cursor (`context`) already repeats is data (`255, 255, ...`), not a loop.
    """
    best_cut = len(text)
    for unit in range(2, max_unit + 1):
        tail = text[-unit:]
        if len(tail) < unit or len(set(tail)) < 2 or not any(ch.isalnum() for ch in tail):
            continue
        count = 1
        while text.endswith(tail * (count + 1)):
            count += 1
        if count >= times and count * unit >= min_chars and tail * 2 not in context:
            best_cut = min(best_cut, len(text) - (count - 1) * unit)
    return text[:best_cut].rstrip() if best_cut < len(text) else text


def _squash(line: str) -> str:
    return "".join(line.split())


def trim_suffix_overlap(text: str, suffix: str, context: BracketContext) -> str:
    """Cut a completion that runs on into text the suffix already holds (later lines).

    Three checks, strongest first: exact (the completion ends with the start of the
    suffix), line by line ignoring whitespace (the completion's last lines are the
    suffix's next lines), and a run of completion lines equal to the next suffix lines.
    A cut backed by real code (a few letters or digits) must not make the brackets
    worse; one backed only by punctuation (`}`) must make them better.
    """
    keep: int | None = None
    for cut, evidence in _overlap_cuts(text, suffix, context.language):
        keep = context.errors(text) if keep is None else keep
        errors = context.errors(cut)
        if errors < keep or errors == keep and evidence >= MIN_EVIDENCE:
            return cut.rstrip()
    return text


def _alnum(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def _overlap_cuts(text: str, suffix: str, language: str | None) -> Iterator[tuple[str, int]]:
    """(cut completion, letters and digits in the overlap that justify it), best first."""
    yield from _exact_overlap_cuts(text, suffix)
    lines = text.split("\n")
    later = [line for line in suffix[:OVERLAP_CHARS].split("\n")[1:] if line.strip()]
    if len(lines) < 2 or not later:
        return
    strict_indent = language in (None, "python")
    for i in range(1, len(lines)):
        rest = [line for line in lines[i:] if line.strip()]
        if rest and _lines_match(rest, later, strict_indent):
            # Lines equal but for their indentation are weaker evidence of a copy.
            same_indent = all(
                indent_width(a) == indent_width(b) for a, b in zip(rest, later, strict=False)
            )
            evidence = _alnum("".join(rest)) - (0 if same_indent else RUN_EXTRA_EVIDENCE)
            yield "\n".join(lines[:i]), evidence
            break
    for i in range(1, len(lines)):
        run = _equal_run(lines[i:], later)
        if run:
            # Not anchored at the completion's end: demand more evidence.
            yield "\n".join(lines[:i]), _alnum("".join(run)) - RUN_EXTRA_EVIDENCE
            break


def _exact_overlap_cuts(text: str, suffix: str) -> Iterator[tuple[str, int]]:
    found = 0
    for m in range(min(len(text), len(suffix)), 0, -1):
        shared = suffix[:m]
        if "\n" in shared and shared.strip() and text.endswith(shared):
            yield text[:-m], _alnum(shared)
            found += 1
            if found == 3:
                return


def _equal_run(lines: list[str], later: list[str]) -> list[str]:
    """The completion's non-blank lines equal (exactly) to the suffix's, from the start."""
    run: list[str] = []
    mine = [line for line in lines if line.strip()]
    for a, b in zip(mine, later, strict=False):
        if a != b:
            break
        run.append(a)
    return run


def _lines_match(rest: list[str], later: list[str], strict_indent: bool) -> bool:
    """rest equals the start of later, ignoring whitespace; its last line may be cut short."""
    if len(rest) > len(later):
        return False
    for k, (mine, theirs) in enumerate(zip(rest, later, strict=False)):
        if strict_indent and indent_width(mine) != indent_width(theirs):
            return False
        a, b = _squash(mine), _squash(theirs)
        if a != b and not (k == len(rest) - 1 and b.startswith(a)):
            return False
    return True


def normalize_first_indent(text: str, prefix: str) -> str:
    """Reconcile the first line's leading whitespace with what is typed before the cursor.

    After code and a space, one more space is the classic tokenizer artefact (`x =  1`);
    longer runs are alignment and stay. On a whitespace-only line, the model's own
    indentation is dropped when the typed indentation already reaches the expected level,
    unless only the model's whitespace completes a partly typed level (13 spaces typed,
    3 more to the body's 16).
    """
    before = cursor_line_before(prefix)
    lead = text[: len(text) - len(text.lstrip(" \t"))]
    if not lead:
        return text
    if before.strip():
        single_space_typed = before.endswith(" ") and not before[:-1].endswith((" ", "\t"))
        if single_space_typed and lead == " " and text[1:2].strip():
            return text[1:]
        return text
    if not before:
        return text
    lines = prefix.split("\n")[-51:-1]
    typed, step = indent_width(before), _indent_step(lines)
    completes_level = typed % step != 0 and indent_width(before + lead) % step == 0
    if typed >= _expected_indent(lines, step) and not completes_level:
        return text[len(lead) :]
    return text


def _expected_indent(lines: list[str], step: int) -> int:
    """The indentation the cursor line most likely wants, from the last non-blank line."""
    for line in reversed(lines):
        if line.strip():
            deeper = line.rstrip().endswith((":", "{", "(", "["))
            return indent_width(line) + (step if deeper else 0)
    return 0


def _indent_step(lines: list[str]) -> int:
    """The file's indentation unit: the smallest increase between code lines (else 4)."""
    widths = [indent_width(line) for line in lines if line.strip()]
    steps = [b - a for a, b in zip(widths, widths[1:], strict=False) if b > a]
    return min(steps, default=4)


def balance_against_suffix(text: str, suffix: str, context: BracketContext) -> tuple[str, int]:
    """Settle closers the completion shares with the suffix; returns (text, replace).

    Options: keep as is; replace the start of the cursor line's rest that the completion
    ends with; drop trailing closers. The bracket-best option wins; on a tie, removing
    a duplicate of the text after the cursor beats keeping, and keeping beats dropping.
    """
    options: list[tuple[str, int]] = []
    rest = cursor_line_after(suffix)
    last = text[text.rfind("\n") + 1 :]
    if "\n" not in text:
        for m in range(len(rest), 0, -1):
            if rest[:m].strip() and last.endswith(rest[:m]):
                options.append((text, m))
    options.append((text, 0))
    body = text
    while body.rstrip() and body.rstrip()[-1] in CLOSERS:
        body = body.rstrip()[:-1]
        options.append((body.rstrip(), 0))
    if len(options) == 1:
        return options[0]
    # min keeps the first of equals: the preference order above
    return min(options, key=lambda option: context.errors(*option))


def keep_inner_space(text: str, model_space: str, suffix: str, replace: int) -> str:
    """Trailing space before more code on the same line is part of the code (`return (`)."""
    after = cursor_line_after(suffix)[replace:]
    if model_space and after and not after[0].isspace() and text:
        return text + model_space
    return text


def _trailing_space(text: str) -> str:
    last = text[text.rfind("\n") + 1 :]
    return last[len(last.rstrip()) :]


# --------------------------------------------------------------------------- the chain


def clean(
    raw: str,
    prefix: str,
    suffix: str,
    shape: Shape,
    language: str | None,
    max_lines: int = 12,
    *,
    tree: ts.Tree | None = None,
    scope: BlockScope | None = None,
) -> Suggestion:
    """The insertion for raw model output at the cursor between prefix and suffix.

    `tree`, when given, is the parse of prefix + suffix: it saves the syntax guard one
    full parse and locates the enclosing scope. `scope` (from `block_scope`) saves that
    lookup when the caller has it already.
    """
    if shape is Shape.NONE:
        return EMPTY
    text = normalize_newlines(raw)
    if shape is not Shape.LINE and scope is None:
        scope = block_scope(prefix, suffix, language, tree)
    if shape is Shape.CONTINUATION:
        # The end of a complete statement. A model that extends the line gets the rest of
        # the line (as LINE); one that starts a new line gets the lines below, cleaned as
        # a block at the next line's column 0 (the inserted newline is part of the answer).
        head, newline, rest = text.partition("\n")
        if head.strip() or not newline:
            shape = Shape.LINE
        else:
            inserted = _with_newline(tree, prefix, suffix, language)
            below = _clean(
                rest, prefix + "\n", suffix, Shape.BLOCK, language, max_lines, inserted, scope
            )
            return Suggestion("\n" + below.text) if below.text else EMPTY
    return _clean(text, prefix, suffix, shape, language, max_lines, tree, scope)


def _with_newline(
    tree: ts.Tree | None, prefix: str, suffix: str, language: str | None
) -> ts.Tree | None:
    """The document's tree with a newline typed at the cursor (an incremental reparse):
    the syntax guard then judges the lines below against statement boundaries."""
    if tree is None or language is None or spec_by_name(language) is None:
        return None
    head = prefix.encode("utf-8", "surrogatepass")
    start = point_after(head, (0, 0))
    edited = tree.copy()
    edited.edit(
        start_byte=len(head),
        old_end_byte=len(head),
        new_end_byte=len(head) + 1,
        start_point=start,
        old_end_point=start,
        new_end_point=(start[0] + 1, 0),
    )
    text = head + b"\n" + suffix.encode("utf-8", "surrogatepass")
    return new_parser(language).parse(text, edited)


def _clean(
    text: str,
    prefix: str,
    suffix: str,
    shape: Shape,
    language: str | None,
    max_lines: int,
    tree: ts.Tree | None,
    scope: BlockScope | None,
) -> Suggestion:
    if shape is Shape.LINE:
        text = first_line(text)
    model_space = _trailing_space(text)
    text = strip_trailing_whitespace(text)
    context = BracketContext.around(prefix, suffix, language)
    text = drop_repeated_lines(text, cursor_line_before(prefix))
    text = drop_trailing_loop(text, prefix[-LOOP_CONTEXT_CHARS:])
    if shape is Shape.BLOCK:
        text = cut_at_dedent(text, cursor_line_before(prefix), language, scope)
    text = trim_suffix_overlap(text, suffix, context)
    if shape is Shape.BLOCK:
        text = cut_at_negative_depth(text, context)
    text = limit_lines(text, max_lines)
    text = drop_trailing_blank_lines(text)
    text = normalize_first_indent(text, prefix)
    if not text.strip():
        return EMPTY
    text, replace = balance_against_suffix(text, suffix, context)
    text = keep_inner_space(text, model_space, suffix, replace)
    text, replace = syntax_guard(text, replace, prefix, suffix, language, tree)
    if not text.strip():
        return EMPTY
    return Suggestion(text, replace)


class StreamGuard:
    """Watches streamed output; `feed` turns True once the rest cannot survive `clean`."""

    def __init__(
        self,
        prefix: str,
        suffix: str,
        shape: Shape,
        language: str | None,
        max_lines: int = 12,
        scope: BlockScope | None = None,
    ) -> None:
        self.prefix, self.suffix = prefix, suffix
        self.shape, self.language, self.max_lines = shape, language, max_lines
        if shape is not Shape.LINE and scope is None:
            scope = block_scope(prefix, suffix, language)
        self.scope = scope
        self.before_cursor = cursor_line_before(prefix)
        self.context = BracketContext.around(prefix, suffix, language)
        self.text = ""
        self.done = shape is Shape.NONE
        self._checked_lines = 0
        self._checked_chars = 0

    def feed(self, piece: str) -> bool:
        if self.done:
            return True
        self.text += normalize_newlines(piece)
        self.done = self._complete()
        return self.done

    def _complete(self) -> bool:
        if self.shape is Shape.LINE:
            return "\n" in self.text or self._looping()
        if self.shape is Shape.CONTINUATION:
            head, newline, rest = self.text.partition("\n")
            if head.strip():
                return bool(newline) or self._looping()  # the rest of the line only
            if not newline:
                return self._looping()
            return self._block_complete(rest, "")  # the block below, from column 0
        return self._block_complete(self.text, self.before_cursor)

    def _block_complete(self, text: str, before_cursor: str) -> bool:
        lines = text.count("\n")
        if lines >= self.max_lines:
            return True
        if lines > self._checked_lines:
            self._checked_lines = lines
            if self._block_ended(text[: text.rfind("\n")], before_cursor):
                return True
        return self._looping()

    def _block_ended(self, done_lines: str, before_cursor: str) -> bool:
        """Complete lines only: a scope stop, a line loop or a copy of the suffix."""
        done_lines = strip_trailing_whitespace(done_lines)
        cut = cut_at_dedent(done_lines, before_cursor, self.language, self.scope)
        cut = cut_at_negative_depth(cut, self.context)
        cut = drop_repeated_lines(cut, before_cursor)
        if len(cut.rstrip()) < len(done_lines.rstrip()):
            return True
        trimmed = trim_suffix_overlap(done_lines, self.suffix, self.context)
        return trimmed.rstrip() != done_lines.rstrip()

    def _looping(self) -> bool:
        if len(self.text) - self._checked_chars < 16:
            return False
        self._checked_chars = len(self.text)
        return drop_trailing_loop(self.text, self.prefix[-LOOP_CONTEXT_CHARS:]) != self.text
