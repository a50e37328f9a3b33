"""Repository context for a cursor: rank cross-file snippets and fit them into a budget.

Sources:

* symbols (pieces of kind ``definition``, or ``api``): identifiers of the enclosing scope
  (weighted by nearness to the cursor) and, more lightly, of the rest of the file, resolved
  through the index to definitions in OTHER files: signature + doc (or first body lines)
  for what the scope uses, the signature alone for what only the file uses; the other
  members of the classes in play (more of them for a base of the class around the cursor);
  and the public names of imported modules. Each definition is one entry; entries compete
  on value per token, and a file's path label or a member's class header is paid once, so
  the selected entries render as one piece per file, in source order.
* ``similar``: 12-line windows of open / recently edited files most similar (Jaccard over
  identifier sets) to the lines above the cursor, as in RepoCoder and CrossCodeEval;
* ``edit``: the user's recent edits in other files.

Stability is a design goal, not an accident: every input is taken from text that does not
change while the user types on the current line (all lines but that one), ordering is total
and rendering is deterministic, so consecutive requests in one scope yield byte-identical
text and the model's KV cache is reused.

The module is long (about 1,100 lines) on purpose: the ranking weights above and the passes
that apply them are tuned together against benchmarks/context_recall.py, and one reading
order (candidates, symbol entries, budget, entry point) keeps their interplay visible.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cl_lsp.core.languages import spec_by_name
from cl_lsp.core.lru import LRU
from cl_lsp.core.scope import (
    IDENT,
    KEYWORDS,
    Scope,
    find_scope,
    identifiers,
    indent_of,
    worth_looking_up,
)
from cl_lsp.core.similar import query_tokens, similar_windows
from cl_lsp.core.symbols import Definition, FileTags, Import
from cl_lsp.core.token_count import CachedCounter, cached_counter
from cl_lsp.core.var_types import dotted_objects, variable_types

DEFINITION = "definition"
API = "api"
SIMILAR = "similar"
EDIT = "edit"
KINDS: tuple[str, ...] = (DEFINITION, API, SIMILAR, EDIT)  # also the priority order
CLASS_KINDS = frozenset({"class", "interface", "struct", "trait", "enum", "impl"})

# Rendering detail, in lines.
MAX_DOC_LINES = 4  # doc (or, without one, body) lines of a definition the scope uses
MAX_BODY_LINES = 3
MEMBER_DETAIL = 1  # ... of a class member the scope uses
CLASS_DOC_LINES = 2
# Where identifiers come from, and how much each kind of evidence counts.
MAX_DEFS_PER_NAME = 3
MAX_SCOPE_LINES_BEFORE = 150
SCOPE_MIN = 0.3  # the identifier weight from which the scope (not just the file) uses it
FILE_WEIGHT = 0.1  # identifiers used elsewhere in the file, outside the scope
FILE_NEAR = 1.0  # ... plus a bonus for being used near the cursor
FILE_NEAR_LINES = 30.0
MAX_FILE_NAMES = 600  # of those, the best ones looked up
TYPE_GUESS_FACTOR = 0.5  # a class named like a variable (`workspace` -> `Workspace`)
IN_PLAY_FACTOR = 1.5  # a member of a class the file mentions, over same-named others
REST_OF_CLASS_FACTOR = 0.3  # members of a used class that neither scope nor file use
BASE_CLASS_FACTOR = 0.6  # ... when that class is a base of the class around the cursor
MAX_MEMBERS = 48  # members listed for a used class (half that for one the scope ignores)
BASE_MEMBERS_MULT = 2  # ... times this for a base class of the class around the cursor
API_VALUE = 0.05  # an imported module's public name that the file does not use (yet)
IMPORT_ONLY_WEIGHT = 0.5  # a name imported by name and not used yet: about to be
MEMBER_WORD_BONUS = 0.5  # a member whose name shares words with the scope's identifiers
DECLARED_TYPE_FACTOR = 0.5  # the declared class of an object, against the object's weight
TYPE_BASE_FACTOR = 0.6  # a base of a declared class, against the class itself
# Selection: value per token**DENSITY_EXP, so long pieces must earn their space.
DENSITY_EXP = 0.5
DENSITY_UNIT = 32  # tokens: windows and edits up to this size are not penalized
DENSITY_HEAD_LINES = 8  # an edit that may be cut short is judged by its first lines
CHARS_PER_TOKEN = 3.5  # for ranking only; budgets are always counted with the tokenizer
MIN_ENTRY_TOKENS = 4  # below this much room left, no entry fits


class IndexView(Protocol):
    """The lookups the context builder needs from the workspace index."""

    def definitions_named(self, name: str) -> list[Definition]: ...

    def file_tags(self, rel_path: str) -> FileTags | None: ...

    def files(self) -> list[str]: ...

    def resolve_import(self, from_path: str, imp: Import) -> str | None: ...

    def top_level_api(self, rel_path: str) -> list[Definition]: ...

    def is_secret_path(self, rel_path: str) -> bool: ...

    def files_in_folder(self, folder: str) -> frozenset[str]: ...


@dataclass(frozen=True)
class ContextSplit:
    """Budget shares per source kind; what one kind leaves unused goes to the others."""

    definition: float = 0.5
    api: float = 0.25
    similar: float = 0.15
    edit: float = 0.10

    def share(self, kind: str) -> float:
        return float(getattr(self, kind))


@dataclass(frozen=True)
class ContextRequest:
    rel_path: str  # workspace-relative POSIX path of the current file
    language: str  # our language name (languages.py), e.g. "python"
    text: str  # the full document text
    offset: int  # cursor as an index into `text`
    budget_tokens: int
    recent_edits: Sequence[tuple[str, str]] = ()  # (rel_path, snippet), newest first
    open_documents: Mapping[str, str] = field(default_factory=dict)  # rel_path -> text
    split: ContextSplit | None = None


@dataclass(frozen=True)
class ContextPiece:
    source_path: str
    kind: str
    score: float
    text: str  # rendered: comment-prefixed, path-labelled, ends without a newline
    tokens: int


@dataclass(frozen=True)
class ContextWindow:
    pieces: tuple[ContextPiece, ...]
    text: str  # the block placed ahead of the in-file prefix ("" or ends with "\n")
    tokens: int
    budget_tokens: int = 0


# --------------------------------------------------------------------------- candidates


@dataclass
class _Candidate:
    """A similar-code window or a recent edit: added whole (edits may be cut short)."""

    kind: str
    path: str
    score: float
    order: int  # a stable tie-breaker: line number or position
    lines: list[str]
    truncatable: bool = False
    span: tuple[int, int] | None = None  # similar windows: lines covered, for overlap checks
    priority: float = 0.0  # the selection order: score per token, see _prioritize

    def sort_key(self) -> tuple[float, str, int]:
        return (-round(self.priority, 6), self.path, self.order)


class _Sources:
    """Reads files for rendering bodies and windows: open buffers first, then the disk."""

    def __init__(self, index: IndexView, open_documents: Mapping[str, str]) -> None:
        self._open = open_documents
        root = getattr(index, "root", None)
        self._root = os.path.realpath(root) if root is not None else None
        self._read: dict[str, list[str] | None] = {}

    def text(self, path: str) -> str | None:
        if path in self._open:
            return self._open[path]
        if self._root is None:
            return None
        # Never follow a path or a link out of the workspace.
        real = os.path.realpath(os.path.join(self._root, path))
        if not real.startswith(self._root + os.sep):
            return None
        try:
            return _read_cached(Path(real))
        except (OSError, ValueError):
            return None

    def lines(self, path: str) -> list[str] | None:
        if path not in self._read:
            text = self.text(path)
            self._read[path] = None if text is None else text.split("\n")
        return self._read[path]


_FILE_CACHE: LRU[str, tuple[float, int, str]] = LRU(128)


def _read_cached(path: Path) -> str:
    """Disk reads keyed by mtime and size: bodies are rendered from unchanged files a lot."""
    stat = path.stat()
    hit = _FILE_CACHE.get(str(path))
    if hit is not None and hit[0] == stat.st_mtime and hit[1] == stat.st_size:
        return hit[2]
    text = path.read_text(encoding="utf-8", errors="replace")
    return _FILE_CACHE.put(str(path), (stat.st_mtime, stat.st_size, text))[2]


@dataclass(frozen=True)
class _Usage:
    counts: Mapping[str, int]  # identifier -> occurrences
    attributes: frozenset[str]  # identifiers seen right after a dot
    first: Mapping[str, int]  # identifier -> first line it occurs on (0-based, in the text)
    last: Mapping[str, int]  # identifier -> last line it occurs on
    distance: Mapping[str, int] = field(default_factory=dict)  # lines to the cursor line


_USAGE: LRU[str, _Usage] = LRU(32)


def _usage(text: str) -> _Usage:
    """Identifier counts and places in a text, cached by the text itself: the parts of the
    document above and below the cursor line do not change while the user types on it."""
    hit = _USAGE.get(text)
    if hit is not None:
        return hit
    counts: dict[str, int] = {}
    attributes: set[str] = set()
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for number, line in enumerate(text.split("\n")):
        for match in IDENT.finditer(line):
            name = match.group()
            if len(name) < 2 or name in KEYWORDS:
                continue
            counts[name] = counts.get(name, 0) + 1
            first.setdefault(name, number)
            last[name] = number
            if match.start() > 0 and line[match.start() - 1] == ".":
                attributes.add(name)
    return _USAGE.put(text, _Usage(counts, frozenset(attributes), first, last))


def _file_usage(text: str, cursor_line: int) -> _Usage:
    """Usage over the whole document except the cursor line, with each name's distance
    in lines to the cursor line."""
    lines_before = text.split("\n", cursor_line)
    before = "\n".join(lines_before[:cursor_line])
    rest = lines_before[cursor_line] if len(lines_before) > cursor_line else ""
    after = rest.split("\n", 1)[1] if "\n" in rest else ""
    above, below = _usage(before), _usage(after)
    counts = dict(above.counts)
    distance = {name: cursor_line - line for name, line in above.last.items()}
    for name, number in below.counts.items():
        counts[name] = counts.get(name, 0) + number
        distance[name] = min(distance.get(name, 1 << 30), below.first[name] + 1)
    return _Usage(counts, above.attributes | below.attributes, {}, {}, distance)


def _weighted_identifiers(
    lines: Sequence[str],
    scope: Scope,
    cursor_line: int,
    usage: _Usage,
    defined: Callable[[str], bool] | None = None,
) -> dict[str, float]:
    """Identifier -> weight: the scope's lines, nearer the cursor heavier, then the rest of
    the file lightly. The cursor line is left out on purpose (stability). Common builtin
    names (`open`, `format`) count only where `defined(name)`: the workspace defines them."""
    weights: dict[str, float] = {}
    first = max(scope.start, cursor_line - MAX_SCOPE_LINES_BEFORE)
    numbers = list(range(first, cursor_line)) + list(range(cursor_line + 1, scope.end + 1))
    headers = {n: 0.6 for n in scope.outer}
    if scope.header >= 0:
        headers[scope.header] = 0.8
    numbers.extend(n for n in headers if n not in numbers)
    for number in numbers:
        if number < 0 or number >= len(lines):
            continue
        distance = abs(cursor_line - number)
        weight = 1.0 / (1.0 + distance / 8.0)
        if number > cursor_line:
            weight *= 0.5
        weight = max(weight, headers.get(number, 0.0))
        for name in identifiers(lines[number], defined):
            weights[name] = max(weights.get(name, 0.0), weight) + 0.05
    elsewhere: dict[str, float] = {}
    for name, count in usage.counts.items():
        if name not in weights and worth_looking_up(name, defined):
            nearness = 1.0 / (1.0 + usage.distance.get(name, 1 << 30) / FILE_NEAR_LINES)
            elsewhere[name] = FILE_WEIGHT * (1.0 + min(count, 4) / 4.0 + FILE_NEAR * nearness)
    # Each name costs an index lookup: a big file's long tail is not worth the latency.
    ranked = sorted(elsewhere.items(), key=lambda pair: (-round(pair[1], 9), pair[0]))
    weights.update(ranked[:MAX_FILE_NAMES])
    return weights


def _base_names(lines: Sequence[str], scope: Scope) -> frozenset[str]:
    """Names in the headers of the classes around the cursor, after the class's own name:
    its bases (`class Unix(PlatformDirsABC):`, `class A extends B implements C`)."""
    names: set[str] = set()
    for number in (*scope.outer, scope.header):
        if 0 <= number < len(lines) and re.match(r"\s*(?:\w+\s+)*class\b", lines[number]):
            names.update(identifiers(lines[number])[1:])
    return frozenset(names)


@dataclass
class _ImportInfo:
    paths: dict[str, int]  # resolved module path -> line of its import
    names: dict[str, str]  # imported name -> resolved path


def _imports(index: IndexView, request: ContextRequest, cursor_line: int) -> _ImportInfo:
    info = _ImportInfo({}, {})
    tags = index.file_tags(request.rel_path)
    if tags is None:
        return info
    for imp in tags.imports:
        if imp.line == cursor_line:
            continue  # being typed: unstable and maybe half-written
        path = index.resolve_import(request.rel_path, imp)
        if path is not None and path != request.rel_path:
            info.paths.setdefault(path, imp.line)
        for name in imp.names:
            if path is not None and path != request.rel_path:
                info.names.setdefault(name, path)
            if request.language == "python":
                _resolve_submodule(index, request, imp, name, info)
    if request.language == "go":  # a Go package sees its other files without imports
        folder = request.rel_path.rpartition("/")[0]
        for path in sorted(index.files_in_folder(folder)):
            if path.endswith(".go") and not path.endswith("_test.go"):
                info.paths.setdefault(path, -1)
    return info


def _resolve_submodule(
    index: IndexView, request: ContextRequest, imp: Import, name: str, info: _ImportInfo
) -> None:
    """`from pkg import mod`: the name may be a module; then it is an import of its own."""
    module = imp.module + name if imp.module.endswith(".") else f"{imp.module}.{name}"
    sub = index.resolve_import(request.rel_path, Import(module, (), imp.line, imp.text))
    if sub is not None and sub != request.rel_path:
        info.paths.setdefault(sub, imp.line)
        info.names[name] = sub


_ALLOWED: LRU[tuple[int, str, str], tuple[IndexView, bool]] = LRU(4096)


def _allowed(index: IndexView, request: ContextRequest, path: str) -> bool:
    """Never the current file (the prefix carries it) and never a secret. Memoized: the
    same few paths are asked about for every definition they hold."""
    key = (id(index), request.rel_path, path)
    hit = _ALLOWED.get(key)
    if hit is not None and hit[0] is index:  # the id of a dead index may be reused
        return hit[1]
    allowed = path != request.rel_path and not index.is_secret_path(path)
    return _ALLOWED.put(key, (index, allowed))[1]


@dataclass
class _Entry:
    """One definition to show: selected one by one, rendered grouped by file."""

    key: tuple[str, int]  # (path, start_line)
    kind: str  # DEFINITION, or API for a module's unused names
    value: float
    lines: list[str]  # rendered, members indented
    owner: Definition | None = None  # the class of a member: its header opens the group
    tokens: int = 0
    ratio: float = 0.0  # value per token, the greedy order


def _symbol_entries(
    index: IndexView,
    request: ContextRequest,
    sources: _Sources,
    weights: Mapping[str, float],
    usage: _Usage,
    imports: _ImportInfo,
    bases: frozenset[str],
    scope_words: frozenset[str] = frozenset(),
    typed: frozenset[str] = frozenset(),
) -> list[_Entry]:
    scored, strong = _score_definitions(index, request, weights, usage, imports)
    entries: dict[tuple[str, int], _Entry] = {}
    for key, (value, definition) in scored.items():
        owner = _owner(index.file_tags(key[0]), definition) if definition.scope else None
        if key in strong:
            detail = MEMBER_DETAIL if owner is not None else MAX_DOC_LINES
            if definition.kind in CLASS_KINDS:
                detail = CLASS_DOC_LINES
        else:
            detail = 0  # only used elsewhere in the file: its signature is enough
        lines = _render_definition(index, sources, definition, "    " if owner else "", detail)
        entries[key] = _Entry(key, DEFINITION, value, lines, owner)
    for key, (value, definition) in scored.items():
        if definition.kind in CLASS_KINDS:
            base = definition.name in bases
            wide = base or definition.name in typed  # show more of it
            limit = MAX_MEMBERS * BASE_MEMBERS_MULT if wide else MAX_MEMBERS
            limit = limit if key in strong or wide else MAX_MEMBERS // 2
            _add_class_members(
                index, definition, value, base, limit, entries, scope_words, request.rel_path
            )
    _add_module_api(index, request, weights, imports, entries)
    return list(entries.values())


def _score_definitions(
    index: IndexView,
    request: ContextRequest,
    weights: Mapping[str, float],
    usage: _Usage,
    imports: _ImportInfo,
) -> tuple[dict[tuple[str, int], tuple[float, Definition]], set[tuple[str, int]]]:
    """Definitions the identifiers most likely mean, with summed evidence; and which of
    them the scope (not only the rest of the file) wants."""
    scored: dict[tuple[str, int], tuple[float, Definition]] = {}
    strong: set[tuple[str, int]] = set()

    def add(definition: Definition, value: float, weight: float) -> None:
        key = (definition.path, definition.start_line)
        scored[key] = (scored.get(key, (0.0, definition))[0] + value, definition)
        if weight >= SCOPE_MIN:
            strong.add(key)

    for name, weight in weights.items():
        defs = [d for d in index.definitions_named(name) if _allowed(index, request, d.path)]
        ranked = _rank_definitions(name, defs, usage.attributes, imports, weights)
        for definition, factor in ranked:
            add(definition, weight * factor, weight)
        if weight >= SCOPE_MIN or name in usage.attributes:
            for definition in _classes_for_attribute(index, request, name):
                add(definition, weight * TYPE_GUESS_FACTOR, weight)
    return scored, strong


def _add_class_members(
    index: IndexView,
    owner: Definition,
    value: float,
    base: bool,
    limit: int,
    entries: dict[tuple[str, int], _Entry],
    scope_words: frozenset[str] = frozenset(),
    current: str = "",
) -> None:
    """The other members of a class the scope uses, as cheap signature lines: worth more
    when the class is a base of the one around the cursor (`self.inherited()`) or the
    declared type of an object the scope uses, and when a member's name shares words with
    the scope's identifiers (`flags` in scope: `Flags()`, `LocalFlags()` first)."""
    tags = index.file_tags(owner.path)
    if tags is None:
        return
    factor = BASE_CLASS_FACTOR if base else REST_OF_CLASS_FACTOR
    members = _members(tags, owner)
    if tags.language == "go":  # not those of the current file: the prompt shows them
        members = members + [m for m in _go_methods(index, owner) if m.path != current]
    ranked = []
    for rank, member in enumerate(members):
        # Source order breaks ties: the first members of a class are its main API.
        words = _words(member.name)
        shared = len(words & scope_words) / len(words) if words else 0.0
        ranked.append(
            (value * factor * (1.0 + MEMBER_WORD_BONUS * shared) / (1.0 + rank / 16.0), member)
        )
    ranked.sort(key=lambda pair: (-round(pair[0], 9), pair[1].path, pair[1].start_line))
    for member_value, member in ranked[:limit]:
        key = (member.path, member.start_line)
        if _is_dunder(member.name):
            continue
        known = entries.get(key)
        if known is None:
            line = "    " + member.signature.split("\n")[0].strip()
            entries[key] = _Entry(key, DEFINITION, member_value, [line], owner)
        elif known.value < member_value:  # a weak match by name, but a member in play
            entries[key] = _Entry(key, DEFINITION, member_value, known.lines[:1], owner)


def _go_methods(index: IndexView, owner: Definition) -> list[Definition]:
    """Go methods live outside their type's body, anywhere in its package (folder)."""
    folder = owner.path.rpartition("/")[0]
    methods = []
    for path in sorted(index.files_in_folder(folder)):
        tags = index.file_tags(path)
        if tags is not None and path.endswith(".go"):
            methods += [d for d in tags.definitions if d.kind == "method" and d.scope == owner.name]
    return methods


_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


@functools.lru_cache(maxsize=65536)
def _words(name: str) -> frozenset[str]:
    """`prepareCookies`, `prepare_cookies`, `PrepareCookies` -> {prepare, cookies}."""
    return frozenset(w.lower() for w in _WORD.findall(name) if len(w) > 2)


def _add_module_api(
    index: IndexView,
    request: ContextRequest,
    weights: Mapping[str, float],
    imports: _ImportInfo,
    entries: dict[tuple[str, int], _Entry],
) -> None:
    """Public top-level names of imported modules that nothing above already covers."""
    aliases: dict[str, float] = {}
    for name, path in imports.names.items():
        aliases[path] = max(aliases.get(path, 0.0), weights.get(name, 0.0))
    for path in imports.paths:
        if not _allowed(index, request, path):
            continue
        module_value = API_VALUE * (1.0 + aliases.get(path, 0.0))
        api = [d for d in index.top_level_api(path) if not d.scope]
        for rank, definition in enumerate(sorted(api, key=lambda d: d.start_line)):
            key = (definition.path, definition.start_line)
            if key in entries or definition.name.startswith("_"):
                continue
            line = definition.signature.split("\n")[0].strip()
            value = module_value / (1.0 + rank / 32.0)
            entries[key] = _Entry(key, API, value, [line])


def _classes_for_attribute(
    index: IndexView, request: ContextRequest, name: str
) -> list[Definition]:
    """`self.workspace.put(...)`: the type of an attribute or variable is often its name in
    CamelCase (`workspace` -> `Workspace`, `_event_queue` -> `EventQueue`)."""
    if not name.strip("_").islower():
        return []
    guess = "".join(part.capitalize() for part in name.split("_") if part)
    if not guess or guess == name:
        return []
    return [
        d
        for d in index.definitions_named(guess)
        if d.kind in CLASS_KINDS and _allowed(index, request, d.path)
    ][:MAX_DEFS_PER_NAME]


@dataclass
class _SymbolState:
    """What the symbol selection has taken so far."""

    chosen: dict[str, list[_Entry]] = field(default_factory=dict)  # path -> entries
    keys: set[tuple[str, int]] = field(default_factory=set)
    groups: set[tuple[str, int]] = field(default_factory=set)  # class headers shown
    used: int = 0


def _rank_entries(entries: list[_Entry]) -> None:
    """Order by value per (estimated) token; exact counts come later, and only for the
    entries that get a chance: tokenizers are not free and most entries never fit."""
    for entry in entries:
        estimate = sum(len(line) + 3 for line in entry.lines) / CHARS_PER_TOKEN
        entry.ratio = entry.value / max(estimate, 1.0) ** DENSITY_EXP
    entries.sort(key=lambda e: (-round(e.ratio, 9), e.key))


def _entry_tokens(entry: _Entry, count: CachedCounter, comment: str) -> int:
    if not entry.tokens:
        entry.tokens = sum(count(f"{comment} {line}\n") for line in entry.lines)
    return entry.tokens


def _take_symbols(
    entries: list[_Entry],
    state: _SymbolState,
    limit: int,
    count: CachedCounter,
    comment: str,
) -> None:
    """Greedy by value per token; a file's path label and a member's class header are paid
    once, by the first entry that needs them."""
    for entry in entries:
        if state.used + MIN_ENTRY_TOKENS > limit:
            break
        if entry.key in state.keys:
            continue
        path = entry.key[0]
        cost = _entry_tokens(entry, count, comment)
        if path not in state.chosen:
            cost += count(f"{comment} Path: {path}\n")
        group = _group_of(entry)
        if group is not None and group not in state.groups and group not in state.keys:
            assert entry.owner is not None
            cost += count(f"{comment} {entry.owner.signature.split(chr(10))[0].rstrip()}\n")
        if state.used + cost > limit:
            continue
        state.used += cost
        state.keys.add(entry.key)
        state.chosen.setdefault(path, []).append(entry)
        if group is not None:
            state.groups.add(group)


def _group_of(entry: _Entry) -> tuple[str, int] | None:
    return None if entry.owner is None else (entry.owner.path, entry.owner.start_line)


def _symbol_pieces(state: _SymbolState, count: CachedCounter, comment: str) -> list[ContextPiece]:
    """One piece per file, in source order, members under their class header."""
    pieces = []
    for path, chosen in state.chosen.items():
        lines: list[str] = []
        opened: set[tuple[str, int]] = set()
        tokens = count(f"{comment} Path: {path}\n")
        for entry in sorted(chosen, key=lambda e: e.key[1]):
            group = _group_of(entry)
            if group is not None and group not in opened and group not in state.keys:
                assert entry.owner is not None
                header = entry.owner.signature.split("\n")[0].rstrip()
                lines.append(header)
                tokens += count(f"{comment} {header}\n")
            if group is not None:
                opened.add(group)
            opened.add(entry.key)
            lines.extend(entry.lines)
            tokens += entry.tokens
        text = render_snippet(comment, path, lines)
        kind = DEFINITION if any(e.kind == DEFINITION for e in chosen) else API
        score = round(sum(e.value for e in chosen), 4)
        # Line by line, as selected; _finish checks the whole text with the tokenizer.
        pieces.append(ContextPiece(path, kind, score, text, tokens))
    return pieces


def _rank_definitions(
    name: str,
    defs: list[Definition],
    attributes: frozenset[str],
    imports: _ImportInfo,
    in_play: Mapping[str, float],
) -> list[tuple[Definition, float]]:
    """Which definitions a name most likely means, each with a confidence factor."""
    if not defs:
        return []
    imported_from = imports.names.get(name)
    if imported_from is not None:
        exact = [d for d in defs if d.path == imported_from]
        if exact:
            return [(d, 3.0) for d in exact[:MAX_DEFS_PER_NAME]]
    ranked = []
    for definition in defs:
        factor = 1.0
        if definition.path in imports.paths:
            factor *= 2.0
        is_member = bool(definition.scope)
        if name in attributes:  # `obj.name`: a member, or `module.name` of an import
            factor *= 1.0 if is_member or definition.path in imports.paths else 0.5
        else:
            factor *= 0.4 if is_member else 1.0
        if is_member and definition.scope.split(".")[-1] in in_play:
            factor *= IN_PLAY_FACTOR  # a method of a class this file mentions
        ranked.append((definition, factor))
    ranked.sort(key=lambda pair: (-pair[1], pair[0].path, pair[0].start_line))
    best = ranked[0][1]
    kept = [pair for pair in ranked if pair[1] >= best][:MAX_DEFS_PER_NAME]
    # A name defined in many places is weak evidence for any one of them.
    ambiguity = len([pair for pair in ranked if pair[1] >= best])
    return [(d, f / ambiguity**0.5) for d, f in kept]


def _render_definition(
    index: IndexView,
    sources: _Sources,
    definition: Definition,
    indent: str,
    detail: int = MAX_DOC_LINES,
) -> list[str]:
    """Signature and doc, or the signature and the first lines of the body; `detail`
    caps the doc or body lines (members of a class get fewer)."""
    tags = index.file_tags(definition.path)
    lines: list[str] = []
    python = tags is None or tags.language == "python"
    doc = _doc_lines(definition.doc, detail)
    if doc and not python:
        lines.extend(indent + d for d in doc)
    lines.extend(indent + s for s in definition.signature.rstrip().split("\n"))
    if doc and python:
        lines.extend(indent + "    " + d for d in doc)
    elif not doc and definition.kind not in CLASS_KINDS:
        lines.extend(_body_lines(sources, definition, min(detail, MAX_BODY_LINES)))
    return lines


@dataclass
class _FileOutline:
    """Which definitions of one file contain which: computed once per file version."""

    tags: FileTags  # held so that the id() key below stays this object's
    containers: dict[str, list[Definition]]  # name -> definitions of that name
    members: dict[int, list[Definition]]  # container start line -> members, in order


_OUTLINES: LRU[int, _FileOutline] = LRU(512)


def _outline_of(tags: FileTags) -> _FileOutline:
    hit = _OUTLINES.get(id(tags))
    if hit is not None and hit.tags is tags:
        return hit
    by_name: dict[str, list[Definition]] = {}
    for definition in tags.definitions:
        by_name.setdefault(definition.name, []).append(definition)
    outline = _FileOutline(tags, by_name, {})
    for definition in tags.definitions:
        owner = _find_owner(outline, definition) if definition.scope else None
        if owner is not None:
            outline.members.setdefault(owner.start_line, []).append(definition)
    for members in outline.members.values():
        members.sort(key=lambda d: d.start_line)
    return _OUTLINES.put(id(tags), outline)


def _find_owner(outline: _FileOutline, definition: Definition) -> Definition | None:
    for candidate in outline.containers.get(definition.scope.split(".")[-1], ()):
        if (
            candidate is not definition
            and candidate.start_line <= definition.start_line <= candidate.end_line
        ):
            return candidate
    return None


def _owner(tags: FileTags | None, definition: Definition) -> Definition | None:
    """The class (or other container) a member belongs to."""
    if tags is None or not definition.scope:
        return None
    return _find_owner(_outline_of(tags), definition)


def _members(tags: FileTags, owner: Definition) -> list[Definition]:
    return _outline_of(tags).members.get(owner.start_line, [])


def _doc_lines(doc: str, limit: int) -> list[str]:
    lines = [line.rstrip() for line in doc.strip().split("\n")]
    if lines == [""]:
        return []
    common = min((indent_of(line) for line in lines[1:] if line.strip()), default=0)
    lines = [lines[0]] + [line[common:] for line in lines[1:]]
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    if limit <= 0:
        return []
    if len(lines) > limit:
        lines = lines[:limit]
        lines[-1] += " ..."
    return lines


def _body_lines(sources: _Sources, definition: Definition, limit: int) -> list[str]:
    file_lines = sources.lines(definition.path)
    if file_lines is None or definition.start_line >= len(file_lines):
        return []
    first = _header_end(file_lines, definition) + 1
    last = min(definition.end_line, first + limit - 1, len(file_lines) - 1)
    body = [file_lines[n].rstrip() for n in range(first, last + 1)]
    if body and last < definition.end_line:
        body.append(_leading(body[-1]) + "...")
    return body


def _header_end(file_lines: Sequence[str], definition: Definition) -> int:
    """The line where the header ends: signatures are normalized to one line by the
    tagger, so count lines in the file, not in the signature."""
    last = min(definition.end_line, definition.start_line + 10, len(file_lines) - 1)
    for number in range(definition.start_line, last + 1):
        line = file_lines[number].split("#")[0].rstrip()
        if line.endswith((":", "{")):
            return number
    return definition.start_line


def _leading(line: str) -> str:
    return line[: indent_of(line)]


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")  # __all__, __version__: noise


def _similar_candidates(
    index: IndexView,
    request: ContextRequest,
    sources: _Sources,
    query: frozenset[str],
) -> list[_Candidate]:
    paths = sorted(set(request.open_documents) | {path for path, _ in request.recent_edits})
    files = []
    for path in paths:
        if not _allowed(index, request, path):
            continue
        text = sources.text(path)
        if text is not None:
            files.append((path, text))
    candidates = []
    for score, path, start, end in similar_windows(query, files):
        file_lines = sources.lines(path) or []
        body = [line.rstrip() for line in file_lines[start : end + 1]]
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        candidates.append(_Candidate(SIMILAR, path, score, start, body, span=(start, end)))
    return candidates


def _edit_candidates(index: IndexView, request: ContextRequest) -> list[_Candidate]:
    candidates = []
    for position, (path, snippet) in enumerate(request.recent_edits):
        if not snippet.strip() or not _allowed(index, request, path):
            continue
        lines = [line.rstrip() for line in snippet.strip("\n").split("\n")]
        score = 1.0 / (1.0 + position)
        candidates.append(_Candidate(EDIT, path, score, position, lines, truncatable=True))
    return candidates


# --------------------------------------------------------------------------- budget


def render_snippet(comment: str, path: str, lines: Iterable[str]) -> str:
    """`# Path: p` then each line commented out: the CrossCodeEval / Code Llama layout,
    and the file stays syntactically valid."""
    body = [f"{comment} {line}" if line else comment for line in lines]
    return "\n".join([f"{comment} Path: {path}", *body])


@dataclass
class _Selection:
    """Similar windows and recent edits taken so far."""

    count: CachedCounter
    comment: str
    budget: int
    used: int = 0
    spans: list[tuple[str, int, int]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # stripped lines already shown
    pieces: list[ContextPiece] = field(default_factory=list)

    def try_add(self, candidate: _Candidate, limit: int) -> int:
        """Add the candidate (or, if allowed, its first lines) within `limit` tokens;
        return the tokens spent."""
        if candidate.span is not None and self._overlaps(candidate):
            return 0
        lines = candidate.lines
        if not lines or self._mostly_seen(lines):
            return 0
        limit = min(limit, self.budget - self.used)
        text = render_snippet(self.comment, candidate.path, lines)
        tokens = self.count(text + "\n")
        if tokens > limit:
            if not candidate.truncatable:
                return 0
            text, tokens = self._truncate(candidate.path, lines, limit)
            if not text:
                return 0
        self.used += tokens
        self.note_lines(lines)
        if candidate.span is not None:
            self.spans.append((candidate.path, *candidate.span))
        score = round(candidate.score, 4)
        self.pieces.append(ContextPiece(candidate.path, candidate.kind, score, text, tokens))
        return tokens

    def note_lines(self, lines: Iterable[str]) -> None:
        self.seen.update(line.strip() for line in lines if line.strip())

    def _mostly_seen(self, lines: list[str]) -> bool:
        """Windows and edits that repeat what earlier pieces show add nothing."""
        code = [line.strip() for line in lines if line.strip()]
        repeated = sum(1 for line in code if line in self.seen)
        return bool(code) and repeated >= 0.8 * len(code)

    def _overlaps(self, candidate: _Candidate) -> bool:
        assert candidate.span is not None
        start, end = candidate.span
        return any(p == candidate.path and start <= e and s <= end for p, s, e in self.spans)

    def _truncate(self, path: str, lines: list[str], limit: int) -> tuple[str, int]:
        """The longest run of first lines that fits: a binary search over its length."""
        low, high, best = 1, len(lines) - 1, ("", 0)
        while low <= high:
            middle = (low + high) // 2
            text = render_snippet(self.comment, path, lines[:middle])
            tokens = self.count(text + "\n")
            if tokens <= limit:
                best, low = (text, tokens), middle + 1
            else:
                high = middle - 1
        return best


def _select(
    symbols: list[_Entry],
    candidates: Mapping[str, list[_Candidate]],
    split: ContextSplit,
    budget: int,
    count: CachedCounter,
    comment: str,
) -> list[ContextPiece]:
    state = _SymbolState()
    selection = _Selection(count, comment, budget)
    taken: set[int] = set()
    # Pass 1: each source within its share. Symbols (definitions and module API) share
    # one pool: their entries compete on value per token.
    _take_symbols(symbols, state, int(budget * (split.definition + split.api)), count, comment)
    selection.note_lines(
        line for entries in state.chosen.values() for e in entries for line in e.lines
    )
    for kind in (SIMILAR, EDIT):
        selection.budget = budget - state.used
        share = int(budget * split.share(kind))
        spent = 0
        for candidate in candidates.get(kind, []):
            added = selection.try_add(candidate, share - spent)
            if added:
                spent += added
                taken.add(id(candidate))
    # Pass 2: what one source left goes to the others, symbols first.
    _take_symbols(symbols, state, budget - selection.used, count, comment)
    selection.budget = budget - state.used
    for kind in (SIMILAR, EDIT):
        for candidate in candidates.get(kind, []):
            if id(candidate) not in taken:
                selection.try_add(candidate, budget)
    return _symbol_pieces(state, count, comment) + selection.pieces


def _layout(pieces: list[ContextPiece]) -> list[ContextPiece]:
    """Render order: API summaries first, definitions last, best pieces nearest the cursor
    (models attend more to nearby text)."""
    rank = {API: 0, EDIT: 1, SIMILAR: 2, DEFINITION: 3}
    return sorted(pieces, key=lambda p: (rank[p.kind], p.score, p.source_path, p.text))


# --------------------------------------------------------------------------- entry points


def build_context(
    request: ContextRequest, index: IndexView, count_tokens: Callable[[str], int]
) -> ContextWindow:
    """Ranked, deduplicated cross-file context for the cursor, within the token budget."""
    if request.budget_tokens <= 0 or index.is_secret_path(request.rel_path):
        return ContextWindow((), "", 0, max(0, request.budget_tokens))
    count = cached_counter(count_tokens)
    spec = spec_by_name(request.language)
    comment = spec.line_comment if spec else "#"
    lines = request.text.split("\n")
    cursor_line = request.text.count("\n", 0, max(0, min(request.offset, len(request.text))))
    scope = find_scope(lines, cursor_line, request.language)
    usage = _file_usage(request.text, cursor_line)
    weights = _weighted_identifiers(lines, scope, cursor_line, usage, _defined(index))
    imports = _imports(index, request, cursor_line)
    sources = _Sources(index, request.open_documents)
    bases = _base_names(lines, scope)
    typed = _with_bases(index, _declared_types(index, request, lines, scope, cursor_line, weights))
    for name, weight in typed.items():  # the class of an object the scope uses
        weights[name] = max(weights.get(name, 0.0), weight)
    _weigh_imported_only(imports, usage, weights)
    scope_words = frozenset(w for name in weights for w in _words(name))
    symbols = _symbol_entries(
        index, request, sources, weights, usage, imports, bases, scope_words, frozenset(typed)
    )
    _rank_entries(symbols)
    candidates = {
        SIMILAR: _similar_candidates(index, request, sources, query_tokens(lines, cursor_line)),
        EDIT: _edit_candidates(index, request),
    }
    for kind_candidates in candidates.values():
        _prioritize(kind_candidates, count, comment)
    split = request.split or ContextSplit()
    pieces = _select(symbols, candidates, split, request.budget_tokens, count, comment)
    return _finish(_layout(pieces), request.budget_tokens, count)


_TYPES: LRU[tuple[str, str], dict[str, str]] = LRU(32)


def _declared_types(
    index: IndexView,
    request: ContextRequest,
    lines: Sequence[str],
    scope: Scope,
    cursor_line: int,
    weights: Mapping[str, float],
) -> dict[str, float]:
    """Class name -> weight, for the objects the scope calls members on (`req.send()`)
    whose class the file declares (a parameter annotation, `x = Cls()`, a Go receiver).
    The cursor line is left out (stability)."""
    before = "\n".join(lines[:cursor_line])
    after = "\n".join(lines[cursor_line + 1 :])
    types: dict[str, str] = {}
    for text in (after, before):  # declarations above the cursor win
        key = (request.language, text)
        found = _TYPES.get(key)
        if found is None:
            found = _TYPES.put(key, variable_types(text, request.language))
        types.update(found)
    first = max(scope.start, cursor_line - MAX_SCOPE_LINES_BEFORE)
    region = [
        lines[n] for n in range(max(0, first), min(scope.end + 1, len(lines))) if n != cursor_line
    ]
    text = "\n".join(region)
    # Objects the scope calls members on, and those it declares (`p = Prepared()` just
    # above the cursor: `p.prepare(...)` is likely next).
    objects = dotted_objects(text) | set(variable_types(text, request.language))
    out: dict[str, float] = {}
    for obj in objects:
        cls = types.get(obj) or _exported_type(index, request, obj)
        if cls is not None:
            weight = max(weights.get(obj, SCOPE_MIN), SCOPE_MIN) * DECLARED_TYPE_FACTOR
            out[cls] = max(out.get(cls, 0.0), weight)
    return out


def _exported_type(index: IndexView, request: ContextRequest, name: str) -> str | None:
    """The class of an object another file defines: `export const onlineManager = new
    OnlineManager()` gives `onlineManager.isOnline()` its class."""
    if len(name) < 2 or not name[0].islower():
        return None
    for definition in index.definitions_named(name)[:MAX_DEFS_PER_NAME]:
        if definition.kind in CLASS_KINDS or not _allowed(index, request, definition.path):
            continue
        found = variable_types(definition.signature, request.language).get(name)
        if found is not None:
            return found
    return None


def _with_bases(index: IndexView, typed: dict[str, float]) -> dict[str, float]:
    """The declared classes and, a little lighter, their bases (`PreparedRequest` gets
    `path_url` from `RequestEncodingMixin`)."""
    out = dict(typed)
    for name, weight in typed.items():
        for definition in index.definitions_named(name)[:MAX_DEFS_PER_NAME]:
            if definition.kind not in CLASS_KINDS:
                continue
            header = definition.signature.split("\n")[0]
            for base in identifiers(header.split(name, 1)[-1]):
                if base[0].isupper() and base not in out:
                    out[base] = weight * TYPE_BASE_FACTOR
    return out


def _weigh_imported_only(imports: _ImportInfo, usage: _Usage, weights: dict[str, float]) -> None:
    """A name imported by name that the file does not use yet is about to be used: why
    else import it? (TypeScript's `import { X }` with no X below it yet.)"""
    for name in imports.names:
        if usage.counts.get(name, 0) <= 1:  # the import statement itself
            weights[name] = max(weights.get(name, 0.0), IMPORT_ONLY_WEIGHT)


def _defined(index: IndexView) -> Callable[[str], bool]:
    """Whether the workspace defines a name (memoized for one request)."""
    known: dict[str, bool] = {}

    def defined(name: str) -> bool:
        hit = known.get(name)
        if hit is None:
            hit = known[name] = bool(index.definitions_named(name))
        return hit

    return defined


def _prioritize(candidates: list[_Candidate], count: CachedCounter, comment: str) -> None:
    """Order by value per token, as the symbols are: a long window must earn its space."""
    for candidate in candidates:
        # A truncatable piece can shrink to fit: judge it by its head.
        lines = candidate.lines[:DENSITY_HEAD_LINES] if candidate.truncatable else candidate.lines
        tokens = count(render_snippet(comment, candidate.path, lines) + "\n")
        candidate.priority = candidate.score / max(1.0, tokens / DENSITY_UNIT) ** DENSITY_EXP
    candidates.sort(key=_Candidate.sort_key)


def _finish(pieces: list[ContextPiece], budget: int, count: CachedCounter) -> ContextWindow:
    """Join the pieces; tokenizers are not quite additive, so check the whole and drop the
    weakest pieces until it fits."""
    while pieces:
        text = "".join(piece.text + "\n" for piece in pieces)
        tokens = count(text)
        if tokens <= budget:
            return ContextWindow(tuple(pieces), text, tokens, budget)
        weakest = min(range(len(pieces)), key=lambda i: (pieces[i].score, -i))
        pieces = pieces[:weakest] + pieces[weakest + 1 :]
    return ContextWindow((), "", 0, budget)


def explain(window: ContextWindow) -> str:
    """A table of the pieces, for `cl-lsp context FILE:LINE:COL`."""
    header = f"{'#':>2}  {'kind':<10} {'score':>7} {'tokens':>6}  source"
    rows = [header, "-" * len(header)]
    for number, piece in enumerate(window.pieces, 1):
        first = piece.text.split("\n")[1] if "\n" in piece.text else ""
        rows.append(
            f"{number:>2}  {piece.kind:<10} {piece.score:>7.3f} {piece.tokens:>6}  "
            f"{piece.source_path}  {first.strip()[:60]}"
        )
    rows.append(f"total {window.tokens} / {window.budget_tokens} tokens")
    return "\n".join(rows)
