"""Execution-based hole benchmark: completions judged by running real tests.

Holes are cut in functions of pure-Python standard-library modules whose unit tests ship
in the interpreter's `test` package, only in code those tests execute (a traced run finds
it). Each filled module is written to a temporary folder that shadows the stdlib copy on
`sys.path`, and its `test.test_<module>` suite runs in a subprocess: the hole passes when
the suite passes. Hole kinds as users meet them:

  single_line        the rest of a line, from its indentation or a random column
  block_in_scope     2+ whole lines of statements; more code of the same block follows
  block_dedent       from a statement in a nested block to the end of the function
  random_span        a random character span inside a function (Code Llama's kind)
  eol_continuation   cursor at the end of a complete statement; the truth is the next
                     lines (what Copilot shows as ghost text below the line)

  --mode oracle   the server's own decide_shape + clean() get the truth as the model's
                  output, and the truth followed by each overshoot: the whole suffix,
                  three suffix lines, an unrelated top-level def. Reports identical /
                  truncated / empty / overshoot / wrong and the test pass rate, for the
                  current policy and (with --baseline REV) the policy of another commit.
  --mode model    the server's plan + engine fill each hole once (default: the embedded
                  SmolLM2); pass@1 with post-processing on and off, generated tokens
                  and milliseconds per line of output (the line cap's cost).

Modules are split: DESIGN ones were looked at while designing the policy, HELD_OUT ones
are only run (`--modules held_out`).

    python benchmarks/exec_holes.py --mode oracle --per-kind 100 --modules held_out \
        --baseline REV --baseline-max-lines 8 [--tokenizer VOCAB.gguf]
    python benchmarks/exec_holes.py --mode model --per-kind 8 --n-ctx 1024 --baseline REV

Prints tables and writes benchmarks/results/exec_holes_<mode>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import tree_sitter as ts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.holes import Hole, Source, load, make_hole  # noqa: E402
from cl_lsp.core.languages import new_parser  # noqa: E402

DESIGN = (
    "textwrap", "shlex", "fnmatch", "colorsys", "difflib", "graphlib",
    "getopt", "fractions", "pprint", "netrc", "copy", "string",
)  # fmt: skip
HELD_OUT = (
    "optparse", "ipaddress", "gettext", "configparser", "reprlib", "base64",
    "quopri", "glob", "calendar", "mimetypes", "dataclasses", "csv",
)  # fmt: skip
KINDS = ("single_line", "block_in_scope", "block_dedent", "random_span", "eol_continuation")
OVERSHOOTS = ("exact", "whole_suffix", "suffix_3_lines", "top_level_def")
OUTCOMES = ("identical", "truncated", "empty", "overshoot", "wrong")
MAX_HOLE_LINES = 40
MAX_SPAN_CHARS = 160
CAPS = (8, 12, 16, 24)  # line caps the truth lengths are reported against
TEST_TIMEOUT_S = 60
RESULTS = Path(__file__).parent / "results"
# Statements that are one step of execution; compound ones are made of these.
COMPOUND = frozenset(
    {
        "if_statement", "for_statement", "while_statement", "try_statement",
        "with_statement", "match_statement", "function_definition",
        "class_definition", "decorated_definition",
    }
)  # fmt: skip

# Runs inside the subprocess: import the shadowing module, check it is ours, run its
# tests; "trace" records the module's executed lines instead of failing fast.
RUNNER = r"""
import io, json, os, sys, threading
name, mode = sys.argv[1], sys.argv[2]
here = os.getcwd()
target = os.path.join(here, name + ".py")
lines = set()
def local(frame, event, arg):
    if event == "line":
        lines.add(frame.f_lineno)
    return local
def tracer(frame, event, arg):
    if frame.f_code.co_filename == target:
        return local
    return None
if mode == "trace":
    sys.settrace(tracer)
    threading.settrace(tracer)
import importlib, unittest
module = importlib.import_module(name)
if os.path.dirname(os.path.abspath(module.__file__)) != here:
    sys.exit(3)
suite = unittest.defaultTestLoader.loadTestsFromName("test.test_" + name)
result = unittest.TextTestRunner(
    stream=io.StringIO(), failfast=mode != "trace", verbosity=0
).run(suite)
sys.settrace(None)
if mode == "trace":
    with open("lines.json", "w") as out:
        json.dump(sorted(lines), out)
sys.exit(0 if result.wasSuccessful() else 1)
"""


# --------------------------------------------------------------------------- running tests


class SuiteRunner:
    """Runs `test.test_<name>` against a given text of module `name`; memoized."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="cl-lsp-exec-")  # removed with us
        self.folder = Path(self._dir.name)
        self.cache: dict[str, bool] = {}
        self.timeouts: dict[str, float] = {}  # per module: 20x its shipped suite's time
        self.runs = 0
        self.seconds = 0.0

    def passes(self, name: str, text: str) -> bool:
        key = hashlib.sha256(f"{name}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()
        if key not in self.cache:
            self.cache[key] = self._run(name, text, "test") == 0
        return self.cache[key]

    def covered_lines(self, name: str, text: str) -> set[int] | None:
        """1-based lines of the module the tests execute; None if they fail as shipped."""
        started = time.perf_counter()
        if self._run(name, text, "test") != 0 or self._run(name, text, "trace") != 0:
            return None
        self.timeouts[name] = max(5.0, 20 * (time.perf_counter() - started))
        return set(json.loads((self.folder / "lines.json").read_text()))

    def _run(self, name: str, text: str, mode: str) -> int:
        (self.folder / f"{name}.py").write_text(text, encoding="utf-8", errors="surrogatepass")
        env = {**os.environ, "PYTHONPATH": str(self.folder), "PYTHONDONTWRITEBYTECODE": "1"}
        started = time.perf_counter()
        self.runs += 1
        try:
            done = subprocess.run(
                [sys.executable, "-c", RUNNER, name, mode],
                cwd=self.folder,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=self.timeouts.get(name, TEST_TIMEOUT_S),
                start_new_session=True,
            )
            return done.returncode
        except subprocess.TimeoutExpired:
            return -1
        finally:
            self.seconds += time.perf_counter() - started
            (self.folder / f"{name}.py").unlink(missing_ok=True)


# --------------------------------------------------------------------------- modules


@dataclass
class Module:
    name: str
    source: Source
    covered: set[int]
    functions: list[ts.Node] = field(default_factory=list)


def stdlib_path(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise ValueError(f"{name} is not a pure-Python module here")
    return Path(spec.origin)


def load_module(name: str, runner: SuiteRunner) -> Module | None:
    source = load(stdlib_path(name), "python")
    if source is None:
        return None
    covered = runner.covered_lines(name, source.text)
    if covered is None:
        return None  # its tests do not pass against a shadowing copy: unusable
    module = Module(name, source, covered)
    stack = [source.tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(reversed(node.children))
        if node.type == "function_definition" and node.start_point[0] + 1 in covered:
            module.functions.append(node)
    return module


# --------------------------------------------------------------------------- holes


def body_statements(block: ts.Node) -> list[ts.Node]:
    """The statements of a block, docstrings left out."""
    return [
        c
        for c in block.named_children
        if c.type != "comment" and not (c.type == "expression_statement" and _is_string(c))
    ]


def _is_string(node: ts.Node) -> bool:
    return node.named_child_count == 1 and node.named_children[0].type == "string"


def simple_statements(node: ts.Node) -> Iterator[ts.Node]:
    """Every non-compound statement inside node, in document order."""
    for child in node.named_children:
        if child.type in COMPOUND or child.type in ("block", "else_clause", "elif_clause"):
            yield from simple_statements(child)
        elif child.type in ("except_clause", "finally_clause", "case_clause", "with_clause"):
            yield from simple_statements(child)
        elif child.type.endswith("_statement") and not _is_string(child):
            yield child


def blocks_in(function: ts.Node) -> list[ts.Node]:
    found = []
    stack = [function]
    while stack:
        node = stack.pop()
        for child in node.named_children:
            if child.type == "function_definition" or child.type == "class_definition":
                continue  # a nested scope is a function of its own
            if child.type == "block":
                found.append(child)
            stack.append(child)
    return found


class HoleCutter:
    """Derandomized holes of each kind in one module's tested functions."""

    def __init__(self, module: Module, rng: random.Random) -> None:
        self.module, self.rng = module, rng
        self.src = module.source

    def line_end(self, row: int) -> int:
        return self.src.line_starts[row] + len(self.src.lines[row])

    def covered(self, first_row: int, last_row: int, function: ts.Node) -> bool:
        """Every simple statement starting in the rows runs under the tests (one at least)."""
        rows = [
            s.start_point[0]
            for s in simple_statements(function)
            if first_row <= s.start_point[0] <= last_row
        ]
        return bool(rows) and all(r + 1 in self.module.covered for r in rows)

    def hole(self, kind: str, start: int, end: int) -> Hole | None:
        hole = make_hole(self.src, "python", kind, start, end)
        if hole is None or hole.truth.count("\n") >= MAX_HOLE_LINES:
            return None
        hole.path = self.module.name
        return hole

    def cut(self, kind: str) -> Hole | None:
        if not self.module.functions:
            return None
        function = self.rng.choice(self.module.functions)
        return getattr(self, kind)(function)

    def single_line(self, function: ts.Node) -> Hole | None:
        rows = [s for s in simple_statements(function) if s.start_point[0] == s.end_point[0]]
        if not rows:
            return None
        statement = self.rng.choice(rows)
        row = statement.start_point[0]
        if not self.covered(row, row, function):
            return None
        line = self.src.lines[row]
        indent = len(line) - len(line.lstrip())
        column = indent if self.rng.random() < 0.3 else self.rng.randrange(indent, len(line))
        return self.hole("single_line", self.src.line_starts[row] + column, self.line_end(row))

    def block_in_scope(self, function: ts.Node) -> Hole | None:
        block = self.rng.choice(blocks_in(function))
        statements = body_statements(block)
        if len(statements) < 2:
            return None
        i = self.rng.randrange(len(statements) - 1)
        j = min(i + self.rng.randint(0, 2), len(statements) - 2)  # statement j+1 follows
        first, last = statements[i].start_point[0], statements[j].end_point[0]
        if last == first or not self.covered(first, last, function):
            return None
        start = self.src.line_starts[first] + statements[i].start_point[1]
        return self.hole("block_in_scope", start, self.line_end(last))

    def block_dedent(self, function: ts.Node) -> Hole | None:
        body = function.child_by_field_name("body")
        nested = [b for b in blocks_in(function) if b != body]
        if body is None or not nested:
            return None
        statement = self.rng.choice(body_statements(self.rng.choice(nested)) or [body])
        first, last = statement.start_point[0], function.end_point[0]
        tail = body_statements(body)
        if not tail or tail[-1].start_point[1] >= statement.start_point[1]:
            return None  # the function must end at a lower indentation
        if not self.covered(first, last, function):
            return None
        start = self.src.line_starts[first] + statement.start_point[1]
        return self.hole("block_dedent", start, self.line_end(last))

    def random_span(self, function: ts.Node) -> Hole | None:
        body = function.child_by_field_name("body")
        if body is None:
            return None
        low = self.src.line_starts[body.start_point[0]] + body.start_point[1]
        high = self.src.line_starts[body.end_point[0]] + body.end_point[1]
        if high - low < 2:
            return None
        start = self.rng.randrange(low, high - 1)
        end = min(high, start + self.rng.randint(1, MAX_SPAN_CHARS))
        text = self.src.text
        if end < len(text) and (text[end].isalnum() or text[end] == "_"):
            return None  # mid-word: cl-lsp completes nothing there, by design
        first, last = text.count("\n", 0, start), text.count("\n", 0, end)
        if not self.covered(first, last, function):
            return None
        return self.hole("random_span", start, end)

    def eol_continuation(self, function: ts.Node) -> Hole | None:
        statements = list(simple_statements(function))
        if len(statements) < 2:
            return None
        i = self.rng.randrange(len(statements) - 1)
        here = statements[i]
        if here.start_point[0] != here.end_point[0]:
            return None
        j = min(i + self.rng.randint(1, 3), len(statements) - 1)
        row, last = here.end_point[0], statements[j].end_point[0]
        if not self.covered(row, last, function):
            return None
        return self.hole("eol_continuation", self.line_end(row), self.line_end(last))


def cut_holes(modules: list[Module], per_kind: int, seed: int) -> dict[str, list[Hole]]:
    """per_kind holes of each kind, round-robin over the modules; derandomized by seed."""
    holes: dict[str, list[Hole]] = {}
    for kind in KINDS:
        rng = random.Random(f"{seed}:{kind}")
        cutters = [HoleCutter(m, rng) for m in modules if m.functions]
        seen: set[tuple[str, int, int]] = set()
        chosen: list[Hole] = []
        for attempt in range(per_kind * 200):
            if len(chosen) >= per_kind or not cutters:
                break
            hole = cutters[attempt % len(cutters)].cut(kind)
            if hole is None:
                continue
            key = (hole.path, len(hole.prefix), len(hole.truth))
            if key not in seen:
                seen.add(key)
                chosen.append(hole)
        holes[kind] = chosen
    return holes


# --------------------------------------------------------------------------- policies


@dataclass
class Policy:
    """A post-processing policy: decide_shape and clean from one version of cl_lsp.core."""

    name: str
    shape: ModuleType
    postprocess: ModuleType
    max_lines: int | None = None  # its own line cap (None: the run's)

    def fill(self, hole: Hole, raw: str, max_lines: int, tree: ts.Tree) -> tuple[str, str, int]:
        """(shape value, inserted text, suffix characters replaced)."""
        text = hole.prefix + hole.suffix
        decision = self.shape.decide_shape(text, len(hole.prefix), "python", tree)
        cleaned = self.postprocess.clean(
            raw, hole.prefix, hole.suffix, decision.shape, "python", max_lines, tree=tree
        )
        return decision.shape.value, cleaned.text, cleaned.replace_suffix_chars

    def guarded_tokens(self, hole: Hole, pieces: list[str], max_lines: int) -> int:
        return _guarded_tokens(self, hole, pieces, max_lines)


def _guarded_tokens(policy: Policy, hole: Hole, pieces: list[str], max_lines: int) -> int:
    """Pieces the policy's StreamGuard lets through before it stops generation."""
    assert hole.tree is not None
    text = hole.prefix + hole.suffix
    shape = policy.shape.decide_shape(text, len(hole.prefix), "python", hole.tree).shape
    guard = policy.postprocess.StreamGuard(hole.prefix, hole.suffix, shape, "python", max_lines)
    for count, piece in enumerate(pieces, 1):
        if guard.feed(piece):
            return count
    return len(pieces)


def current_policy() -> Policy:
    from cl_lsp.core import postprocess, shape

    return Policy("current", shape, postprocess)


_POLICY_DIRS: list[tempfile.TemporaryDirectory[str]] = []


def policy_at(rev: str, max_lines: int | None = None) -> Policy:
    """cl_lsp/core as of a git revision, imported as its own package."""
    root = Path(__file__).resolve().parent.parent
    files = subprocess.run(
        ["git", "-C", str(root), "ls-tree", "--name-only", rev, "cl_lsp/core/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    package = "cl_lsp_core_" + hashlib.sha1(rev.encode()).hexdigest()[:8]
    holder = tempfile.TemporaryDirectory(prefix="cl-lsp-policy-")
    _POLICY_DIRS.append(holder)  # kept (and importable) until the process ends
    folder = Path(holder.name) / package
    folder.mkdir()
    for path in files:
        if path.endswith(".py"):
            text = subprocess.run(
                ["git", "-C", str(root), "show", f"{rev}:{path}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            (folder / Path(path).name).write_text(text)
    sys.path.insert(0, str(folder.parent))
    shape = importlib.import_module(f"{package}.shape")
    postprocess = importlib.import_module(f"{package}.postprocess")
    return Policy(f"{rev}@{max_lines}" if max_lines else rev, shape, postprocess, max_lines)


# --------------------------------------------------------------------------- oracle


def unrelated_defs(modules: list[Module]) -> list[tuple[str, str]]:
    """(module, first lines of a top-level def): the 'new top-level def' overshoot."""
    found = []
    for module in modules:
        for node in module.source.tree.root_node.named_children:
            if node.type == "function_definition":
                rows = module.source.lines[node.start_point[0] : node.start_point[0] + 3]
                found.append((module.name, "\n".join(line.rstrip() for line in rows)))
    return found


def overshoot_raw(hole: Hole, kind: str, defs: list[tuple[str, str]], rng: random.Random) -> str:
    if kind == "whole_suffix":
        return hole.truth + hole.suffix
    if kind == "suffix_3_lines":
        return hole.truth + "\n".join(hole.suffix.split("\n")[:4])
    if kind == "top_level_def":
        other = [code for name, code in defs if name != hole.path] or [c for _, c in defs]
        return hole.truth + "\n\n\n" + rng.choice(other) + "\n"
    return hole.truth


def outcome(hole: Hole, text: str, replace: int) -> str:
    document = hole.prefix + text + hole.suffix[replace:]
    if document == hole.document:
        return "identical"
    if not text:
        return "empty"
    if replace == 0 and hole.truth.startswith(text):
        return "truncated"
    if replace == 0 and text.startswith(hole.truth):
        return "overshoot"
    return "wrong"


def run_oracle(
    holes: dict[str, list[Hole]],
    policies: list[Policy],
    defs: list[tuple[str, str]],
    runner: SuiteRunner,
    max_lines: int,
    seed: int,
) -> dict[str, Any]:
    """policy -> kind -> overshoot -> {outcome counts, passed, total}."""
    table: dict[str, Any] = {}
    for policy in policies:
        per_kind: dict[str, Any] = {}
        for kind, items in holes.items():
            cells: dict[str, Any] = {}
            for over in OVERSHOOTS:
                rng = random.Random(f"{seed}:{kind}:{over}")
                counts: dict[str, int] = defaultdict(int)
                passed = 0
                examples = []
                for hole in items:
                    assert hole.tree is not None
                    raw = overshoot_raw(hole, over, defs, rng)
                    cap = policy.max_lines or max_lines
                    shape, text, replace = policy.fill(hole, raw, cap, hole.tree)
                    result = outcome(hole, text, replace)
                    counts[result] += 1
                    document = hole.prefix + text + hole.suffix[replace:]
                    ok = result == "identical" or runner.passes(hole.path, document)
                    passed += ok
                    if result != "identical" and len(examples) < 4:
                        examples.append(
                            {"module": hole.path, "shape": shape, "outcome": result,
                             "truth": hole.truth, "text": text, "passed": ok}
                        )  # fmt: skip
                cells[over] = {
                    "total": len(items),
                    "passed": passed,
                    **{o: counts[o] for o in OUTCOMES},
                    "examples": examples,
                }
            per_kind[kind] = cells
        table[policy.name] = per_kind
    return table


def print_lengths(stats: dict[str, dict[str, float]], vocab: str, max_tokens: int) -> None:
    print(f"\ntruth sizes (tokens: {vocab}; block token cap {max_tokens})")
    caps = "".join(f"{'>' + str(c) + ' lines':>11}" for c in CAPS)
    print(f"{'kind':<18}{'p50':>5}{'p90':>5}{'max':>5}{caps}{'tok/line':>9}{'>cap tok':>9}")
    for kind, row in stats.items():
        cells = "".join(f"{row[f'over_{c}'] * 100:10.1f}%" for c in CAPS)
        tokens = (
            f"{row['tokens_per_line']:9.1f}{row['over_max_tokens'] * 100:8.1f}%"
            if "tokens_per_line" in row
            else ""
        )
        print(f"{kind:<18}{row['p50']:>5}{row['p90']:>5}{row['max']:>5}{cells}{tokens}")


def _multi_line(kinds: dict[str, Any]) -> dict[str, Any]:
    """Both block kinds together: the issue's "multi-line" holes."""
    blocks = [kinds[k] for k in ("block_in_scope", "block_dedent") if k in kinds]
    if len(blocks) < 2:
        return {}
    merged = {
        over: {key: sum(b[over][key] for b in blocks) for key in ("total", "passed", *OUTCOMES)}
        for over in blocks[0]
    }
    return {"multi_line (both)": merged}


def print_oracle(table: dict[str, Any], label: str) -> None:
    print(f"\n{label}: % of holes; pass = the module's tests pass with the completion")
    head = f"{'policy':<10}{'kind':<18}{'overshoot':<16}{'n':>4}"
    print(head + "".join(f"{o[:9]:>10}" for o in OUTCOMES) + f"{'pass':>8}")
    table = {policy: {**kinds, **_multi_line(kinds)} for policy, kinds in table.items()}
    for policy, kinds in table.items():
        for kind, cells in kinds.items():
            for over, c in cells.items():
                n = c["total"] or 1
                row = f"{policy:<10}{kind:<18}{over:<16}{c['total']:>4}"
                row += "".join(f"{c[o] * 100 / n:9.1f}%" for o in OUTCOMES)
                print(row + f"{c['passed'] * 100 / n:7.1f}%")


# --------------------------------------------------------------------------- model


def run_model(
    holes: dict[str, list[Hole]],
    configs: list[tuple[Policy, int]],
    runner: SuiteRunner,
    model: str,
    n_ctx: int,
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """One generation per hole (no stream guard), then per (policy, line cap) what the
    server would have shown: the policy's StreamGuard replayed over the streamed pieces
    (the tokens it lets the model generate), then its clean(). pass@1 per kind, also
    with no post-processing at all (the raw output inserted as is)."""
    from benchmarks.holes import model_generator

    generate, description = model_generator(model, n_ctx)
    table: dict[str, Any] = {}
    ms_per_token: list[float] = []
    names = [f"{policy.name}/{cap}" for policy, cap in configs]
    for kind, items in holes.items():
        row: dict[str, Any] = {"holes": len(items), "raw_pass": 0}
        for name in names:
            row[name] = {"pass": 0, "identical": 0, "tokens": 0, "lines": 0}
        for hole in items:
            assert hole.tree is not None
            log = PieceLog()
            result = generate(hole.prefix, hole.suffix, log.note)
            if result is not None and result.tokens:
                ms_per_token.append(result.generate_s * 1000 / len(result.tokens))
            row["raw_pass"] += runner.passes(
                hole.path, hole.prefix + "".join(log.pieces) + hole.suffix
            )
            for name, (policy, cap) in zip(names, configs, strict=True):
                tokens = policy.guarded_tokens(hole, log.pieces, cap)
                streamed = "".join(log.pieces[:tokens])
                _, text, replace = policy.fill(hole, streamed, cap, hole.tree)
                document = hole.prefix + text + hole.suffix[replace:]
                cell = row[name]
                cell["pass"] += runner.passes(hole.path, document)
                cell["identical"] += document == hole.document
                cell["tokens"] += tokens
                cell["lines"] += text.strip("\n").count("\n") + 1 if text.strip() else 0
        table[kind] = row
    cost = {"ms_per_token": _mean(ms_per_token), "generations": len(ms_per_token)}
    return table, cost, description


class PieceLog:
    """The streamed pieces (one a token) of a generation."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def note(self, piece: str) -> bool:
        self.pieces.append(piece)
        return False  # no stream guard here: each policy's guard is replayed afterwards


def print_model(table: dict[str, Any], cost: dict[str, Any], label: str) -> None:
    print(f"\n{label}: pass@1 and identical (% of holes); tokens the stream guard let the")
    print("model generate and lines shown (mean per hole); raw = no post-processing at all")
    names = [k for k in next(iter(table.values()), {}) if "/" in k]
    print(f"{'kind':<18}{'n':>4}{'raw pass':>9}" + "".join(f"{n:>34}" for n in names))
    print(f"{'':<31}" + "".join(f"{'pass  ident  tokens  lines':>34}" for _ in names))
    for kind, row in table.items():
        n = row["holes"] or 1
        cells = ""
        for name in names:
            c = row[name]
            cells += (
                f"{c['pass'] * 100 / n:12.1f}%{c['identical'] * 100 / n:6.1f}%"
                f"{c['tokens'] / n:8.1f}{c['lines'] / n:7.1f}"
            )
        print(f"{kind:<18}{row['holes']:>4}{row['raw_pass'] * 100 / n:8.1f}%{cells}")
    print(f"generation: {cost['ms_per_token']:.1f} ms per token ({cost['generations']} runs)")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


# --------------------------------------------------------------------------- main


def prepare(holes: dict[str, list[Hole]]) -> None:
    parser = new_parser("python")
    for items in holes.values():
        for hole in items:
            hole.tree = parser.parse((hole.prefix + hole.suffix).encode("utf-8"))


def line_lengths(
    holes: dict[str, list[Hole]], count_tokens: Callable[[str], int] | None, max_tokens: int
) -> dict[str, dict[str, float]]:
    """Lines (and tokens) per truth: median, p90, max, share over 8/12/16/24 lines and
    over the block token cap (what no line cap can let through)."""
    stats: dict[str, dict[str, float]] = {}
    for kind, items in holes.items():
        counts = sorted(h.truth.strip("\n").count("\n") + 1 for h in items)
        if not counts:
            continue
        row: dict[str, float] = {
            "p50": counts[len(counts) // 2],
            "p90": counts[int(len(counts) * 0.9)],
            "max": counts[-1],
            **{f"over_{cap}": sum(c > cap for c in counts) / len(counts) for cap in CAPS},
        }
        if count_tokens is not None:
            tokens = sorted(count_tokens(h.truth) for h in items)
            lines = sum(counts)
            row.update(
                tokens_p50=tokens[len(tokens) // 2],
                tokens_p90=tokens[int(len(tokens) * 0.9)],
                tokens_per_line=sum(tokens) / lines,
                over_max_tokens=sum(t > max_tokens for t in tokens) / len(tokens),
            )
        stats[kind] = row
    return stats


def tokenizer(path: str | None) -> tuple[Callable[[str], int] | None, str]:
    """Token counts with a GGUF's own vocabulary (no weights): default the embedded model."""
    from cl_lsp.engine.loader import embedded_model_path
    from cl_lsp.engine.remote import _LocalVocab

    gguf = Path(path) if path else embedded_model_path()
    if gguf is None or not gguf.is_file():
        return None, "none"
    vocab = _LocalVocab(gguf)
    return (lambda text: len(vocab.tokenize(text))), gguf.name


def load_modules(names: list[str], runner: SuiteRunner) -> list[Module]:
    modules = []
    for name in names:
        try:
            module = load_module(name, runner)
        except ValueError as error:  # frozen or compiled: a copy on sys.path cannot shadow it
            print(f"skipped {name}: {error}")
            continue
        if module is None:
            print(f"skipped {name}: its tests do not pass against a shadowing copy")
        else:
            modules.append(module)
    return modules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("oracle", "model"), default="oracle")
    parser.add_argument("--modules", default="design", help="design | held_out | all | a,b,c")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--per-kind", type=int, default=30, help="holes per kind")
    parser.add_argument("--baseline", help="also run the policy of this git revision")
    parser.add_argument(
        "--baseline-max-lines", type=int, help="the baseline's line cap (default: the run's)"
    )
    parser.add_argument("--max-lines", type=int, help="the line cap (default: the config's)")
    parser.add_argument("--model", default="smollm", help="model mode: smollm | tiny | PATH")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--tokenizer", help="GGUF whose vocabulary counts truth tokens")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    from cl_lsp.config import CompletionSettings

    max_lines = args.max_lines or CompletionSettings().max_lines
    max_tokens = CompletionSettings().max_block_tokens
    count_tokens, vocab = tokenizer(args.tokenizer)
    groups = {"design": list(DESIGN), "held_out": list(HELD_OUT), "all": [*DESIGN, *HELD_OUT]}
    names = groups.get(args.modules, args.modules.split(","))
    started = time.perf_counter()
    runner = SuiteRunner()
    modules = load_modules(names, runner)
    holes = cut_holes(modules, args.per_kind, args.seed)
    holes = {k: v for k, v in holes.items() if k in args.kinds.split(",")}
    prepare(holes)
    report: dict[str, Any] = {
        "mode": args.mode,
        "modules": [m.name for m in modules],
        "seed": args.seed,
        "max_lines": max_lines,
        "holes": {k: len(v) for k, v in holes.items()},
        "tokenizer": vocab,
        "max_block_tokens": max_tokens,
        "truth_lines": line_lengths(holes, count_tokens, max_tokens),
    }
    label = f"modules {args.modules} ({len(modules)}), seed {args.seed}, max_lines {max_lines}"
    if args.mode == "oracle":
        policies = [current_policy()]
        if args.baseline:
            policies.append(policy_at(args.baseline, args.baseline_max_lines))
        table = run_oracle(holes, policies, unrelated_defs(modules), runner, max_lines, args.seed)
        report["table"] = table
        print_oracle(table, label)
        print_lengths(report["truth_lines"], vocab, max_tokens)
    else:
        configs = [(current_policy(), max_lines), (current_policy(), 8)]
        if args.baseline:
            configs.append((policy_at(args.baseline), args.baseline_max_lines or 8))
        table, cost, description = run_model(holes, configs, runner, args.model, args.n_ctx)
        report.update(table=table, cost=cost, model=description)
        print_lengths(report["truth_lines"], vocab, max_tokens)
        print_model(table, cost, f"model {description}; {label}")
    report["test_runs"] = runner.runs
    report["test_seconds"] = runner.seconds
    report["seconds"] = time.perf_counter() - started
    print(f"({report['seconds']:.0f} s; {runner.runs} test runs, {runner.seconds:.0f} s)")
    out = args.out or RESULTS / f"exec_holes_{args.mode}_{args.modules}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    return 0


def run_policy_check(
    names: list[str], per_kind: int, seed: int, max_lines: int
) -> tuple[dict[str, Any], dict[str, list[Hole]]]:
    """For tests: the oracle table of the current policy on a few holes."""
    runner = SuiteRunner()
    modules = load_modules(names, runner)
    holes = cut_holes(modules, per_kind, seed)
    prepare(holes)
    table = run_oracle(holes, [current_policy()], unrelated_defs(modules), runner, max_lines, seed)
    return table["current"], holes


if __name__ == "__main__":
    sys.exit(main())
