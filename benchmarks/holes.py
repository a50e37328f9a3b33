"""Hole-filling benchmark for the post-processing chain (cl_lsp.core.postprocess.clean).

Cuts holes in real code nobody on the project wrote (the stdlib, npm's JavaScript, C
examples under /usr/share/doc, ...), fills them and checks the document comes back
byte for byte.

  --mode synthetic   model-free and deterministic: the "raw model output" is the truth
                     plus the overshoot a model typically produces (mode 1)
  --mode model       a real model fills each hole through cl-lsp's own pipeline (shape,
                     window, prompt layout, engine) with the stream guard off, so the raw
                     output can be scored with the post-processor on and off (mode 2):
                     exact match, edit similarity and "no new syntax errors"

    python benchmarks/holes.py --mode synthetic [--per-category 300] [--seed 0]
    python benchmarks/holes.py --mode model                  # SmolLM2, single-line holes
    python benchmarks/holes.py --mode model --model PATH.gguf --categories single_line,block

Prints a table and writes benchmarks/results/holes.json.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import sys
import sysconfig
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter as ts

from cl_lsp.core.languages import new_parser
from cl_lsp.core.postprocess import CLOSERS, StreamGuard, clean, indent_width
from cl_lsp.core.shape import Shape, decide_shape
from cl_lsp.engine.base import GenerationResult

CATEGORIES = ("single_line", "block", "random_span")
KINDS = ("exact", "suffix_lines", "repeat_line", "extra_closer", "outer_code")
STREAM_PIECE = 3  # characters per streamed "token" when replaying raw output
BRACE_BODY_TYPES = frozenset(
    {
        "statement_block",
        "compound_statement",
        "block",
        "class_body",
        "declaration_list",
        "field_declaration_list",
        "enum_body",
        "switch_body",
        "function_body",
    }
)
EXTENSIONS = {
    "python": (".py",),
    "javascript": (".js", ".mjs", ".cjs"),
    "typescript": (".ts", ".mts", ".cts"),
    "c": (".c",),
    "go": (".go",),
    "rust": (".rs",),
}
MAX_FILE_BYTES = 200_000
MAX_LINES = 12
RESULTS = Path(__file__).parent / "results" / "holes.json"

Complete = Callable[[str, str], str]


@dataclass
class Hole:
    language: str
    path: str
    category: str
    prefix: str
    truth: str
    suffix: str
    shape: Shape = Shape.NONE
    tree: ts.Tree | None = field(default=None, repr=False)

    @property
    def document(self) -> str:
        return self.prefix + self.truth + self.suffix


# --------------------------------------------------------------------------- sources


def search_roots() -> list[Path]:
    """Where real code lives on this machine: none of it ours."""
    roots = [Path(sysconfig.get_paths()["purelib"]), Path("/usr/share"), Path("/usr/lib")]
    home = Path.home()
    roots += [home / ".rustup" / "toolchains", home / ".cargo" / "registry" / "src"]
    return [root for root in roots if root.is_dir()]


def find_sources(language: str) -> list[Path]:
    if language == "python":
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        modules = [*stdlib.glob("*.py"), *stdlib.glob("*/*.py")]
        return sorted(p for p in modules if "site-packages" not in p.parts)
    found: set[Path] = set()
    for root in search_roots():
        for dirpath, _, files in os.walk(root):
            for name in files:
                if name.endswith(EXTENSIONS[language]) and not _generated(name):
                    found.add(Path(dirpath) / name)
    return _distinct(sorted(p for p in found if 200 < _size(p) <= MAX_FILE_BYTES))


def _distinct(paths: list[Path]) -> list[Path]:
    """One path per file content (toolchains ship the same file twice)."""
    seen: set[int] = set()
    kept = []
    for path in paths:
        try:
            digest = hash(path.read_bytes())
        except OSError:
            continue
        if digest not in seen:
            seen.add(digest)
            kept.append(path)
    return kept


def _generated(name: str) -> bool:
    return name.endswith((".min.js", ".d.ts", ".d.mts", ".d.cts", ".bundle.js"))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_source(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --------------------------------------------------------------------------- holes


@dataclass
class Source:
    path: Path
    text: str
    tree: ts.Tree
    lines: list[str]
    line_starts: list[int]


MAX_LINE_CHARS = 400  # longer lines mean generated or minified code, not code people write


def load(path: Path, language: str) -> Source | None:
    text = read_source(path)
    if not text or max(len(line) for line in text.split("\n")) > MAX_LINE_CHARS:
        return None
    tree = new_parser(language).parse(text.encode("utf-8"))
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    return Source(path, text, tree, lines, starts)


def make_hole(source: Source, language: str, category: str, start: int, end: int) -> Hole | None:
    """The hole text[start:end], or None where its truth cannot be inserted verbatim."""
    truth = source.text[start:end]
    if not truth.strip() or any(line != line.rstrip() for line in truth.split("\n")[:-1]):
        return None
    if truth.endswith(("\n",)):
        return None
    last = truth.split("\n")[-1]
    line_end = source.text.find("\n", end)
    after = source.text[end : line_end if line_end >= 0 else len(source.text)]
    if last != last.rstrip() and (not after or after[0].isspace()):
        return None  # trailing whitespace at a line end: the chain strips it by design
    return Hole(language, str(source.path), category, source.text[:start], truth, source.text[end:])


def _code_lines(source: Source) -> list[int]:
    return [i for i, line in enumerate(source.lines) if line.strip()]


def single_line_holes(source: Source, language: str, rng: random.Random) -> Iterator[Hole]:
    """The rest of a line from a random point after its indentation."""
    rows = _code_lines(source)
    while rows:
        row = rng.choice(rows)
        line = source.lines[row]
        indent = len(line) - len(line.lstrip())
        column = indent if rng.random() < 0.3 else rng.randrange(indent, len(line.rstrip()))
        start = source.line_starts[row] + column
        hole = make_hole(
            source, language, "single_line", start, source.line_starts[row] + len(line)
        )
        if hole is not None:
            yield hole


def block_holes(source: Source, language: str, rng: random.Random) -> list[Hole]:
    """Full indented block bodies: a Python suite, a brace body between `{` and `}` lines."""
    holes = []
    for first, last in _block_bodies(source, language):
        if not 2 <= last - first + 1 <= MAX_LINES:
            continue
        line = source.lines[first]
        start = source.line_starts[first] + len(line) - len(line.lstrip())
        end = source.line_starts[last] + len(source.lines[last])
        hole = make_hole(source, language, "block", start, end)
        if hole is not None:
            holes.append(hole)
    rng.shuffle(holes)
    return holes


def _block_bodies(source: Source, language: str) -> Iterator[tuple[int, int]]:
    """(first, last) body rows of each block whose body sits on lines of its own."""
    stack = [source.tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        rows = _python_body(node) if language == "python" else _brace_body(source, node)
        if rows is not None:
            yield rows


def _python_body(node: ts.Node) -> tuple[int, int] | None:
    parent = node.parent
    if node.type != "block" or parent is None or node.start_point[0] <= parent.start_point[0]:
        return None
    end_row = node.end_point[0] - (1 if node.end_point[1] == 0 else 0)
    return node.start_point[0], end_row


def _brace_body(source: Source, node: ts.Node) -> tuple[int, int] | None:
    if node.type not in BRACE_BODY_TYPES or node.child_count < 3:
        return None
    opener, closer = node.children[0], node.children[-1]
    if opener.type != "{" or closer.type != "}":
        return None
    open_row, close_row = opener.end_point[0], closer.start_point[0]
    open_line, close_line = source.lines[open_row], source.lines[close_row]
    if open_line[opener.end_point[1] :].strip() or close_line[: closer.start_point[1]].strip():
        return None
    first, last = open_row + 1, close_row - 1
    while first <= last and not source.lines[first].strip():
        first += 1
    while last >= first and not source.lines[last].strip():
        last -= 1
    return (first, last) if first <= last else None


def random_span_holes(source: Source, language: str, rng: random.Random) -> Iterator[Hole]:
    """A random span from a random point. Mid-line it ends on the same line (a LINE
    completion never crosses one); at a line's indentation it covers whole lines that
    stay inside the block (a BLOCK completion stops at a dedent)."""
    rows = _code_lines(source)
    while rows:
        row = rng.choice(rows)
        line = source.lines[row]
        indent = len(line) - len(line.lstrip())
        stripped_end = len(line.rstrip())
        base = source.line_starts[row]
        if rng.random() < 0.3:
            last = _last_row_in_block(source, row, rng.randint(0, 5))
            end = source.line_starts[last] + len(source.lines[last])
            hole = make_hole(source, language, "random_span", base + indent, end)
        else:
            column = rng.randrange(indent, stripped_end)
            end_column = rng.randint(column + 1, stripped_end)
            if end_column < len(line) and _word(line[end_column]):
                continue
            if (
                end_column < len(line)
                and line[end_column].isspace()
                and line[end_column - 1].isspace()
            ):
                continue
            hole = make_hole(source, language, "random_span", base + column, base + end_column)
        if hole is not None:
            yield hole


def _word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _last_row_in_block(source: Source, row: int, extra: int) -> int:
    width = indent_width(source.lines[row])
    last = row
    for candidate in range(row + 1, min(row + 1 + extra, len(source.lines))):
        line = source.lines[candidate]
        if not line.strip():
            continue
        if indent_width(line) < width:
            break
        last = candidate
    return last


# --------------------------------------------------------------------------- overshoots


def overshoots(hole: Hole, source: Source, rng: random.Random) -> dict[str, str | None]:
    """Raw model outputs for one hole: the truth and four typical ways to run past it."""
    return {
        "exact": hole.truth,
        "suffix_lines": _with_suffix_lines(hole, rng),
        "repeat_line": _with_repeated_line(hole, rng),
        "extra_closer": _with_extra_closer(hole, rng),
        "outer_code": _with_outer_code(hole, source, rng),
    }


def _with_suffix_lines(hole: Hole, rng: random.Random) -> str | None:
    """(a) the model goes on writing the code that follows."""
    lines = hole.suffix.split("\n")
    count = rng.randint(1, 3)
    taken = "\n".join(lines[: count + 1])
    if rng.random() < 0.5 and lines[count : count + 1] and lines[count].strip():
        last = lines[count]
        taken = taken[
            : len(taken) - len(last) + rng.randint(len(last) - len(last.lstrip()) + 1, len(last))
        ]
    return hole.truth + taken if taken.strip() else None


def _with_repeated_line(hole: Hole, rng: random.Random) -> str:
    """(b) the model loops on its last line until the token limit."""
    last = (hole.prefix + hole.truth).split("\n")[-1]
    return hole.truth + ("\n" + last) * rng.randint(2, 4)


def _with_extra_closer(hole: Hole, rng: random.Random) -> str | None:
    """(c) the model closes a bracket the suffix already closes: on its own line as the
    suffix has it, or straight after the last character (unless that is in a comment)."""
    stripped = hole.suffix.lstrip(" \t\n")
    if not stripped or stripped[0] not in CLOSERS:
        return None
    gap = hole.suffix[: len(hole.suffix) - len(stripped)]
    if rng.random() < 0.5 and not _ends_in_comment(hole):
        gap = ""
    return hole.truth + gap + stripped[0]


def _ends_in_comment(hole: Hole) -> bool:
    end = len((hole.prefix + hole.truth).encode("utf-8"))
    tree = new_parser(hole.language).parse(hole.document.encode("utf-8"))
    node: ts.Node | None = tree.root_node.descendant_for_byte_range(end - 1, end)
    while node is not None:
        if "comment" in node.type:
            return True
        node = node.parent
    return False


def _with_outer_code(hole: Hole, source: Source, rng: random.Random) -> str | None:
    """(d) the model ends the block and starts new code at an outer level."""
    last = (hole.prefix + hole.truth).split("\n")[-1]
    first = (hole.prefix.split("\n")[-1] + hole.truth).split("\n")[0]
    level = min(indent_width(first), indent_width(last))
    if hole.shape is Shape.BLOCK and level == 0:
        return None  # nothing is outside a top-level block: no indentation to stop at
    outer = [
        i
        for i, line in enumerate(source.lines)
        if line.strip() and indent_width(line) < max(level, 1) and _word(line.lstrip()[0])
    ]
    if not outer:
        return None
    row = rng.choice(outer)
    code = "\n".join(line.rstrip() for line in source.lines[row : row + rng.randint(1, 3)])
    if hole.language != "python":
        code = " " * indent_width(source.lines[row]) + "}\n\n" + code
    return hole.truth + "\n\n" + code


# --------------------------------------------------------------------------- scoring


def streamed(hole: Hole, raw: str) -> str:
    """What the engine would have generated had StreamGuard stopped it."""
    guard = StreamGuard(hole.prefix, hole.suffix, hole.shape, hole.language, MAX_LINES)
    for start in range(0, len(raw), STREAM_PIECE):
        if guard.feed(raw[start : start + STREAM_PIECE]):
            return raw[: start + STREAM_PIECE]
    return raw


CLEAN_SECONDS: list[float] = []  # per clean() call in this run, for the latency line


def recovered(hole: Hole, raw: str) -> bool:
    started = time.perf_counter()
    result = clean(
        raw, hole.prefix, hole.suffix, hole.shape, hole.language, MAX_LINES, tree=hole.tree
    )
    CLEAN_SECONDS.append(time.perf_counter() - started)
    return hole.prefix + result.text + hole.suffix[result.replace_suffix_chars :] == hole.document


def prepare(hole: Hole, language: str) -> str | None:
    """Decide the hole's shape the way the server will; why not, for holes we never fill."""
    text = hole.prefix + hole.suffix
    hole.tree = new_parser(language).parse(text.encode("utf-8"))
    hole.shape = decide_shape(text, len(hole.prefix), language, hole.tree).shape
    if hole.shape is Shape.NONE:
        return "shape_none"
    if hole.shape is Shape.LINE and "\n" in hole.truth:
        return "multi_line_truth_at_line_shape"  # e.g. code inside a docstring
    return None


@dataclass
class Tally:
    ok: int = 0
    total: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    saved: float | None = None  # stream only: fraction of raw characters never generated

    def add(self, good: bool, example: dict[str, str]) -> None:
        self.total += 1
        self.ok += good
        if not good and len(self.failures) < 5:
            self.failures.append(example)

    @property
    def rate(self) -> float:
        return self.ok / self.total if self.total else float("nan")


def cut_holes(
    language: str, files: list[Path], per_category: int, rng: random.Random
) -> tuple[dict[str, list[tuple[Hole, Source]]], dict[str, int]]:
    """per_category holes of each category, spread over the files; skipped-hole counts."""
    sources = [s for s in (load(p, language) for p in files) if s is not None]
    chosen: dict[str, list[tuple[Hole, Source]]] = defaultdict(list)
    skipped: dict[str, int] = defaultdict(int)
    if not sources:
        return chosen, skipped
    blocks = [(h, s) for s in sources for h in block_holes(s, language, rng)]
    rng.shuffle(blocks)
    makers = {
        "single_line": single_line_holes,
        "random_span": random_span_holes,
    }
    for category in CATEGORIES:
        if category == "block":
            pool: Iterator[tuple[Hole, Source]] = iter(blocks)
        else:
            pool = _round_robin(sources, makers[category], language, rng)
        attempts = 0
        seen: set[tuple[str, int, int]] = set()
        for hole, source in pool:
            attempts += 1
            if len(chosen[category]) >= per_category or attempts > per_category * 20:
                break
            key = (hole.path, len(hole.prefix), len(hole.truth))
            if key in seen:
                skipped[f"{category}:duplicate"] += 1
                continue
            seen.add(key)
            why_not = prepare(hole, language)
            if why_not is None:
                chosen[category].append((hole, source))
            else:
                skipped[f"{category}:{why_not}"] += 1
    return chosen, skipped


def _round_robin(
    sources: list[Source],
    maker: Callable[[Source, str, random.Random], Iterator[Hole]],
    language: str,
    rng: random.Random,
) -> Iterator[tuple[Hole, Source]]:
    generators = [(maker(s, language, rng), s) for s in sources]
    while True:
        generator, source = rng.choice(generators)
        hole = next(generator, None)
        if hole is not None:
            yield hole, source


def run_synthetic(
    language: str, holes: dict[str, list[tuple[Hole, Source]]], rng: random.Random
) -> dict[str, dict[str, Tally]]:
    table: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    saved: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for category, items in holes.items():
        for hole, source in items:
            for kind, raw in overshoots(hole, source, rng).items():
                if raw is None:
                    continue
                ok = recovered(hole, raw)
                example = {
                    "path": hole.path,
                    "shape": hole.shape.value,
                    "prefix_tail": hole.prefix[-160:],
                    "truth": hole.truth,
                    "raw": raw,
                    "suffix_head": hole.suffix[:160],
                }
                table[category][kind].add(ok, example)
                table[category]["all"].add(ok, example)
                cut = streamed(hole, raw)
                table[category]["stream"].add(recovered(hole, cut), {**example, "streamed": cut})
                saved[category][0] += len(raw) - len(cut)
                saved[category][1] += len(raw)
    for category, (dropped, total) in saved.items():
        table[category]["stream"].saved = dropped / total if total else 0.0
    return table


def run_model(
    language: str, holes: dict[str, list[tuple[Hole, Source]]], complete: Complete
) -> dict[str, dict[str, Tally]]:
    """Mode 2: a real model fills every hole once, scored with the post-processor on
    ("model") and off ("raw"): exact match here, edit similarity and syntax in METRICS."""
    table: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    parser = new_parser(language)
    for category, items in holes.items():
        for hole, _ in items:
            raw = complete(hole.prefix, hole.suffix)
            baseline = _errors(parser, hole.document)
            cleaned = clean(
                raw,
                hole.prefix,
                hole.suffix,
                hole.shape,
                hole.language,
                MAX_LINES,
                tree=hole.tree,
            )
            filled = {
                "model": (cleaned.text, hole.suffix[cleaned.replace_suffix_chars :]),
                "raw": (raw, hole.suffix),
            }
            for kind, (text, suffix) in filled.items():
                document = hole.prefix + text + suffix
                ok = document == hole.document
                example = {"path": hole.path, "truth": hole.truth, "raw": raw, "text": text}
                table[category][kind].add(ok, example)
                metrics = METRICS[(language, category, kind)]
                metrics["similarity"].append(_similarity(text, hole.truth))
                metrics["no_new_errors"].append(float(_errors(parser, document) <= baseline))
            table[category]["all"].add(
                hole.prefix + cleaned.text + filled["model"][1] == hole.document, {}
            )
    return table


# (language, category, "model" | "raw") -> metric -> per-hole values
METRICS: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))


def _similarity(text: str, truth: str) -> float:
    """Edit similarity as in CodeXGLUE/RepoBench: 1 - normalized edit distance, here via
    difflib's ratio over the stripped text."""
    return difflib.SequenceMatcher(None, text.strip(), truth.strip(), autojunk=False).ratio()


def _errors(parser: ts.Parser, text: str) -> int:
    from cl_lsp.core.syntax_tree import count_syntax_problems

    return count_syntax_problems(parser.parse(text.encode("utf-8", "surrogatepass")))


def model_backend(model: str, n_ctx: int) -> tuple[Complete, str]:
    """`complete(prefix, suffix) -> raw text` through CompletionService's plan (shape,
    window, prompt, token healing) and the engine, with no stream guard."""
    generate, description = model_generator(model, n_ctx)

    def complete(prefix: str, suffix: str) -> str:
        result = generate(prefix, suffix, None)
        return result.text if result is not None else ""

    return complete, description


def model_generator(
    model: str, n_ctx: int, max_lines: int | None = None
) -> tuple[Callable[[str, str, Callable[[str], bool] | None], GenerationResult | None], str]:
    """`generate(prefix, suffix, on_piece) -> GenerationResult | None` (None: the plan
    has no prompt) through the service's plan and the engine; `on_piece` sees each
    streamed piece and may stop generation as the server's StreamGuard does."""
    from cl_lsp.config import Settings
    from cl_lsp.engine.base import GenerationRequest
    from cl_lsp.engine.loader import load_engine
    from cl_lsp.service import CompletionRequest, CompletionService

    settings = Settings()
    settings.model.n_ctx = n_ctx
    settings.completion.cache = False
    settings.context.enabled = False  # one file at a time: the in-file window only
    if max_lines is not None:
        settings.completion.max_lines = max_lines
    if model == "tiny":
        from cl_lsp.testing.tiny_model import cached_tiny_codellama

        cache = os.environ.get("CL_LSP_TEST_MODELS", Path.home() / ".cache/cl-lsp/test-models")
        settings.model.path = str(cached_tiny_codellama(Path(cache)))
    elif model != "smollm":
        settings.model.path = model
    engine, _ = load_engine(settings.model)
    service = CompletionService(engine, settings, None)

    def generate(
        prefix: str, suffix: str, on_piece: Callable[[str], bool] | None
    ) -> GenerationResult | None:
        text = prefix + suffix
        plan = service.plan(CompletionRequest(text, len(prefix), rel_path="hole"))
        if plan.prompt is None or not plan.prompt.ids:
            return None
        request = GenerationRequest(
            ids=plan.prompt.ids,
            max_tokens=plan.max_tokens,
            stop_ids=engine.stop_ids,
            should_stop=on_piece,
            time_limit_s=30.0,
            heal_prefix=plan.heal,
        )
        return engine.submit(request).result()

    return generate, engine.description


# --------------------------------------------------------------------------- report


def report(results: dict[str, dict], missing: dict[str, str]) -> None:
    columns = ("all",) + KINDS + ("stream", "model", "raw")
    used = [
        c
        for c in columns
        if any(c in cats for lang in results.values() for cats in lang["table"].values())
    ]
    print(f"{'language':<11}{'category':<13}" + "".join(f"{c:>14}" for c in used))
    for language, data in results.items():
        for category, kinds in data["table"].items():
            cells = []
            for column in used:
                cell = kinds.get(column)
                cells.append(
                    f"{cell['rate'] * 100:6.1f}% {cell['total']:>5}" if cell else f"{'-':>14}"
                )
            print(f"{language:<11}{category:<13}" + "".join(f"{c:>14}" for c in cells))
    for language, why in missing.items():
        print(f"{language:<11}{why}")
    print("cells: exact-recovery rate and hole count; stream: recovery when StreamGuard stops")
    print("generation early; characters of raw output it saved:")
    for language, data in results.items():
        saved = {c: k["stream"]["saved"] for c, k in data["table"].items() if "stream" in k}
        print(f"  {language:<11}" + "  ".join(f"{c} {v * 100:.0f}%" for c, v in saved.items()))
    print("clean() latency per call (ms, syntax guard included, document tree given):")
    for language, data in results.items():
        t = data["clean_ms"]
        if t:
            print(
                f"  {language:<11}mean {t['mean']:.2f}  p50 {t['p50']:.2f}  "
                f"p95 {t['p95']:.2f}  max {t['max']:.1f}  ({t['calls']} calls)"
            )
    for language, data in results.items():
        print(f"  {language:<11}{data['files']} files; skipped {data['skipped']}")


def report_quality(results: dict[str, dict], model: str) -> None:
    print(f"\nmodel: {model}; post-processor on (model) vs off (raw)")
    print(f"{'language':<11}{'category':<13}{'':>6}{'exact':>9}{'edit sim':>10}{'no new err':>12}")
    for language, data in results.items():
        for key, q in data["quality"].items():
            category, kind = key.split("/")
            exact = data["table"][category][kind]["rate"]
            print(
                f"{language:<11}{category:<13}{kind:>6}{exact * 100:8.1f}%"
                f"{q['edit_similarity']:10.3f}{q['no_new_syntax_errors'] * 100:11.1f}%"
            )


def main(argv: list[str] | None = None, complete: Complete | None = None) -> int:
    """Mode 2 callers pass `complete(prefix, suffix) -> raw text` (a model backend)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("synthetic", "model"), default="synthetic")
    parser.add_argument("--languages", default="python,javascript,typescript,c,go,rust")
    parser.add_argument("--per-category", type=int, help="holes per category (300; model: 40)")
    parser.add_argument(
        "--categories", help="comma-separated (all; model mode with SmolLM2: single_line)"
    )
    parser.add_argument("--model", default="smollm", help="model mode: smollm | tiny | PATH")
    parser.add_argument("--n-ctx", type=int, default=2048, help="model mode: context size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    model_name = None
    if args.per_category is None:
        args.per_category = 40 if args.mode == "model" else 300
    if args.categories is None:
        # SmolLM2 has no infilling: single lines are the fair test of a prefix-only model.
        prefix_only = args.mode == "model" and args.model == "smollm"
        args.categories = "single_line" if prefix_only else ",".join(CATEGORIES)
    categories = set(args.categories.split(","))
    if args.mode == "model" and complete is None:
        complete, model_name = model_backend(args.model, args.n_ctx)
    if args.mode == "synthetic":
        complete = None
    results: dict[str, dict] = {}
    missing: dict[str, str] = {}
    started = time.perf_counter()
    for language in args.languages.split(","):
        rng = random.Random(f"{args.seed}:{language}")
        files = find_sources(language)
        if not files:
            missing[language] = f"no real {'/'.join(EXTENSIONS[language])} sources on this machine"
            continue
        holes, skipped = cut_holes(language, files, args.per_category, rng)
        holes = {c: items for c, items in holes.items() if c in categories}
        if complete is None:
            table = run_synthetic(language, holes, rng)
        else:
            table = run_model(language, holes, complete)
        timings = sorted(CLEAN_SECONDS)
        CLEAN_SECONDS.clear()
        results[language] = {
            "files": len(files),
            "clean_ms": _latency(timings),
            "skipped": dict(skipped),
            "shapes": {c: _shape_mix(items) for c, items in holes.items()},
            "quality": {
                f"{category}/{kind}": {
                    "edit_similarity": sum(m["similarity"]) / len(m["similarity"]),
                    "no_new_syntax_errors": sum(m["no_new_errors"]) / len(m["no_new_errors"]),
                    "holes": len(m["similarity"]),
                }
                for (lang, category, kind), m in METRICS.items()
                if lang == language and m["similarity"]
            },
            "table": {
                category: {
                    kind: {
                        "rate": t.rate,
                        "ok": t.ok,
                        "total": t.total,
                        "saved": t.saved,
                        "failures": t.failures,
                    }
                    for kind, t in kinds.items()
                }
                for category, kinds in table.items()
            },
        }
    report(results, missing)
    if model_name is not None:
        report_quality(results, model_name)
    elapsed = time.perf_counter() - started
    print(f"({elapsed:.1f} s; seed {args.seed}; mode {args.mode})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "mode": args.mode,
                "model": model_name,
                "seed": args.seed,
                "results": results,
                "missing": missing,
                "seconds": elapsed,
            },
            indent=1,
        )
    )
    return 0


def _latency(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    ms = [s * 1000 for s in seconds]
    return {
        "calls": len(ms),
        "mean": sum(ms) / len(ms),
        "p50": ms[len(ms) // 2],
        "p95": ms[int(len(ms) * 0.95)],
        "max": ms[-1],
    }


def _shape_mix(items: list[tuple[Hole, Source]]) -> dict[str, int]:
    mix: dict[str, int] = defaultdict(int)
    for hole, _ in items:
        mix[hole.shape.value] += 1
    return dict(mix)


if __name__ == "__main__":
    sys.exit(main())
