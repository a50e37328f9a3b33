"""Fix-its without the model: the region a rewrite may touch, the candidates taken
from a model's rewrite, and the verification a rewrite must pass to be offered.

`fix_region` picks the smallest enclosing statement or block around a diagnostic;
`verify_fix` accepts a rewrite only when nothing outside the region changes, the file
parses with fewer errors (and none on the diagnostic's line), and the rewrite keeps the
region's words. Offsets index the Python string.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher

import tree_sitter as ts

from .doc_render import sanitize
from .languages import new_parser
from .syntax_tree import SourceText, count_syntax_problems, error_lines
from .text_edit import minimal_edit

# --------------------------------------------------------------------------- fix regions

_STATEMENT_SUFFIXES = ("_statement", "_definition", "_declaration", "_item", "_clause")
_STATEMENT_TYPES = frozenset(
    {
        "ERROR",
        "block",
        "statement_block",
        "compound_statement",
        "expression_statement",
        "decorated_definition",
        "method_definition",
        "field_declaration",
        "lexical_declaration",
        "variable_declaration",
        "local_variable_declaration",
        "declaration",
        "command",
        "pipeline",
        "list",
        "let_declaration",
        "short_var_declaration",
        "assignment_statement",
        "element",
    }
)
MAX_REGION_LINES = 24


@dataclass(frozen=True)
class Region:
    start: int  # a line start
    end: int  # just after a line break (or the end of the text)

    def text(self, full: str) -> str:
        return full[self.start : self.end]


def _is_statement(node: ts.Node) -> bool:
    return node.type in _STATEMENT_TYPES or node.type.endswith(_STATEMENT_SUFFIXES)


def _whole_lines(src: SourceText, start: int, end: int) -> Region:
    a = src.line_start(start)
    b = src.line_end(max(start, end - 1) if end > start else end)
    if b < len(src.text):
        b += 1
    return Region(a, b)


def fix_region(src: SourceText, start: int, end: int, max_lines: int = MAX_REGION_LINES) -> Region:
    """The smallest enclosing statement or block around [start, end), as whole lines.

    Falls back to the diagnostic's own lines (plus the previous line, where a missing
    colon or bracket usually is) when the enclosing statement is too large.
    """
    lo, hi = src.byte(start), src.byte(max(start, end))
    node = src.tree.root_node.descendant_for_byte_range(lo, hi)
    candidate: Region | None = None
    while node is not None and node.parent is not None:
        if _is_statement(node):
            region = _whole_lines(src, src.start(node), src.end(node))
            lines = src.text.count("\n", region.start, region.end)
            if lines <= max_lines:
                candidate = region
                # A region that is entirely an error node: widen once to the enclosing
                # statement, the model needs the statement's start to see what broke.
                if node.type != "ERROR" or lines > 1:
                    break
            else:
                break
        node = node.parent
    diag = _whole_lines(src, start, end)
    if candidate is None or not (candidate.start <= diag.start and diag.end <= candidate.end):
        previous = src.line_start(max(0, diag.start - 1))
        candidate = Region(min(previous, diag.start), diag.end)
    return candidate


_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*|\d+(?:\.\d+)?")


def words(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text))


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    errors_before: int = 0
    errors_after: int = 0


def verify_fix(
    src: SourceText,
    region: Region,
    replacement: str,
    diagnostic_line: int,
    *,
    syntax: bool = True,
    max_word_changes: int = 0,
    max_inserted: int = 4,
) -> Verdict:
    """Accept a rewrite of `region` only if it is an improvement that keeps the code.

    - it changes something, and only inside the region (by construction of the edit);
    - the file then has fewer tree-sitter errors than before (for a diagnostic from
      another tool on a file without syntax errors: still none), and none of the new
      errors touches the rewritten lines or the diagnostic's line;
    - the rewrite keeps the region's identifiers, keywords and numbers (a syntax fix adds
      punctuation; it does not delete code to make the parser happy). Up to
      `max_word_changes` words may differ for other tools' diagnostics;
    - for syntax errors: it only inserts (at most `max_inserted` non-whitespace
      characters) and removes nothing but whitespace. Deleting a stray token would fix
      some errors too, but it is also how a plausible wrong fix looks (`(a) =>` to
      `a =>`, a closing quote moved), and a wrong fix must never be offered.
    """
    old = region.text(src.text)
    if replacement == old:
        return Verdict(False, "no change")
    if not replacement.strip() and old.strip():
        return Verdict(False, "deletes the region")
    before = count_syntax_problems(src.tree)
    new_text = src.text[: region.start] + replacement + src.text[region.end :]
    tree = new_parser(src.language).parse(new_text.encode("utf-8", "surrogatepass"))
    after = count_syntax_problems(tree)
    if before > 0 and after >= before:
        return Verdict(False, "does not reduce syntax errors", before, after)
    if before == 0 and after > 0:
        return Verdict(False, "introduces syntax errors", before, after)
    first_line = src.text.count("\n", 0, region.start)
    new_last = first_line + replacement.count("\n")
    bad = error_lines(tree)
    shift = replacement.count("\n") - old.count("\n")
    diag_after = diagnostic_line if diagnostic_line < first_line else diagnostic_line + shift
    touched = set(range(first_line, new_last + 1)) | {diag_after}
    if bad & touched:
        return Verdict(False, "errors remain in the rewritten lines", before, after)
    diff = words(old) - words(replacement) + (words(replacement) - words(old))
    changed = sum(diff.values())
    if changed > (0 if syntax else max_word_changes):
        return Verdict(False, f"changes {changed} words of the code", before, after)
    if syntax:
        removed, added = char_changes(old, replacement)
        if removed:
            return Verdict(False, f"removes {removed} characters of code", before, after)
        if added > max_inserted:
            return Verdict(False, f"inserts {added} characters", before, after)
        if _ambiguous(src, region, replacement, after):
            return Verdict(
                False, "ambiguous: the same insertion elsewhere parses too", before, after
            )
    return Verdict(True, "ok", before, after)


MAX_AMBIGUITY_TRIES = 240


def _ambiguous(src: SourceText, region: Region, replacement: str, errors: int) -> bool:
    """Would the same inserted text fix the file at another place on the line as well?

    A dropped closing quote or bracket can be closed in several places that all parse
    (`return '; // x` -> `return ''; // x` or `return '; // x';`); the parser cannot tell
    which one the author meant, so such a fix is not offered. A missing colon or comma
    usually has one place only.
    """
    edit = minimal_edit(src.text, region.start, region.end, replacement)
    inserted = edit.new_text
    if edit.start != edit.end or not inserted.strip() or "\n" in inserted:
        return False
    # The inserted line, and the region's first line (where the author's edit usually is).
    positions: list[int] = []
    for anchor in (edit.start, region.start):
        positions += range(src.line_start(anchor), src.line_end(anchor) + 1)
    text = src.text
    tries = 0
    for position in sorted(set(positions)):
        if position == edit.start or tries >= MAX_AMBIGUITY_TRIES:
            continue
        inside_word = (
            0 < position < len(text) and text[position - 1].isalnum() and text[position].isalnum()
        )
        if inside_word:
            continue
        other = src.text[:position] + inserted + src.text[position:]
        if re.sub(r"\s+", "", other) == re.sub(r"\s+", "", edit.apply(src.text)):
            continue  # the same text (e.g. before or after a space)
        tries += 1
        tree = new_parser(src.language).parse(other.encode("utf-8", "surrogatepass"))
        if count_syntax_problems(tree) <= errors:
            return True
    return False


def char_changes(old: str, new: str) -> tuple[int, int]:
    """Non-whitespace characters removed from and added to `old` to make `new`."""
    a = re.sub(r"\s+", "", old)
    b = re.sub(r"\s+", "", new)
    removed = added = 0
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("delete", "replace"):
            removed += i2 - i1
        if tag in ("insert", "replace"):
            added += j2 - j1
    return removed, added


def reindent(code: str, indent: str) -> str:
    """Shift a block so its least indented non-blank line starts at `indent`."""
    lines = code.split("\n")
    widths = [len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()]
    if not widths:
        return code
    cut = min(widths)
    return "\n".join((indent + line[cut:]) if line.strip() else "" for line in lines)


def fix_candidates(raw: str, region_text: str, indent: str) -> list[str]:
    """Replacements to try from a model's rewrite: the same number of lines first, then
    one fewer and one more; indentation normalised to the region's."""
    text = raw.replace("\r\n", "\n")
    fence = re.search(r"```[^\n]*\n(.*?)(?:```|\Z)", text, re.S)
    if fence:
        text = fence.group(1)
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    n = max(1, region_text.rstrip("\n").count("\n") + 1)
    ends_newline = region_text.endswith("\n")
    # Keep the model's relative indentation when its first line matches the region's.
    out: list[str] = []
    for k in (n, n - 1, n + 1, n - 2, n + 2):
        if k < 1 or k > len(lines):
            continue
        chunk = "\n".join(lines[:k]).rstrip()
        if not chunk.strip():
            continue
        first = region_text.split("\n", 1)[0]
        base = first[: len(first) - len(first.lstrip(" \t"))]
        chunk = reindent(chunk, base)
        chunk = "\n".join(line.rstrip() for line in chunk.split("\n"))
        if ends_newline:
            chunk += "\n"
        if chunk not in out:
            out.append(chunk)
    merged = _merge_lines(lines, region_text)
    if merged is not None and merged not in out:
        out.append(merged)
    return out


def _merge_lines(model_lines: list[str], region_text: str) -> str | None:
    """The region with each line replaced by the model's version of it, where the model
    kept that line's words (so it only changed punctuation); other lines stay as they
    were. Small models fix the broken line and then wander off; this keeps the fix."""
    original = region_text.split("\n")
    trailing = original[-1] == ""
    if trailing:
        original = original[:-1]
    used = 0
    out: list[str] = []
    changed = False
    for line in original:
        want = words(line)
        replacement = line
        for j in range(used, min(len(model_lines), used + 4)):
            candidate = model_lines[j]
            if want and words(candidate) == want:
                indent = line[: len(line) - len(line.lstrip(" \t"))]
                replacement = indent + candidate.strip()
                used = j + 1
                break
        changed = changed or replacement != line
        out.append(replacement)
    if not changed:
        return None
    return "\n".join(out) + ("\n" if trailing else "")


def hint_comment(language: str, message: str, region_text: str, comment: str) -> str:
    """The hint placed before the region in the prompt: the diagnostic and the old code."""
    first = region_text.split("\n", 1)[0]
    indent = first[: len(first) - len(first.lstrip(" \t"))]
    message = sanitize(message, 200)
    lines = [f"{indent}{comment} {message}. The original lines were:"]
    for line in region_text.rstrip("\n").split("\n"):
        shown = line[len(indent) :] if line.startswith(indent) else line
        lines.append(f"{indent}{comment}   {shown}")
    lines.append(f"{indent}{comment} Corrected:")
    return "\n".join(lines) + "\n"
