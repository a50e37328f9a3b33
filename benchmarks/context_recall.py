"""Cross-file definition recall of the context builder, without a model.

For N sampled completion points (line starts inside functions, fixed seed) on real
repositories none of us wrote, the document is the file with that line emptied and the
cursor at its start (the rest of the file stays, as in an editor). The targets are the
identifiers of the true line that are defined in OTHER files of the repository (and not
in the current one). Recall = the fraction of targets whose definition (its signature's
first line, from its own file) is in the context. Compared at several budgets:

  builder   build_context (definitions + imported API + open/recent similar code)
  jaccard   RepoCoder-style 12-line windows over all repo files, Jaccard vs. the 12
            lines above the cursor, greedy by score
  in-file   no cross-file context: 0 by construction of the metric

Each target also has a kind, reported as its own row (builder recall):
  name         a bare name (`helper(x)`)
  attribute    `obj.NAME` where obj is not an imported module: the object's type decides
               which class's member is meant (Go: a method call on a value)
  qualified    `module.NAME` through an imported module or package
  import-only  a bare name the rest of the file mentions only in an import statement

Python points come from the `ast` (uses, not mentions); TypeScript and Go points from the
tags' function spans and the line's identifiers outside strings and comments, minus the
names the function itself declares.

Usage: python benchmarks/context_recall.py [--root DIR ...] [-n 300] [--seed 0]
       [--tokenizer-model model.gguf]
"""

from __future__ import annotations

import argparse
import ast
import builtins
import json
import math
import random
import re
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cl_lsp.core.index import RepositoryIndex  # noqa: E402
from cl_lsp.core.retrieval import (  # noqa: E402
    ContextPiece,
    ContextRequest,
    IndexView,
    build_context,
    render_snippet,
)
from cl_lsp.core.similar import query_tokens, similar_windows  # noqa: E402
from cl_lsp.core.symbols import Definition, FileTags  # noqa: E402
from cl_lsp.core.token_count import cached_counter  # noqa: E402

BUDGETS = (512, 1024, 2048)
KEYSTROKE_BUDGET = 1024
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "tests", "test", "__tests__", "*_test.go", "*.spec.ts", "*.test.ts"
)
STDLIB_PACKAGES = ("asyncio", "email", "json", "http")
SITE_PACKAGES = ("pygls", "watchdog", "platformdirs", "requests", "urllib3")


KINDS = ("name", "attribute", "qualified", "import-only")
LANGUAGES = {".py": "python", ".ts": "typescript", ".go": "go"}


@dataclass
class Point:
    repo: str
    path: str  # relative to the repo root
    line: int
    targets: dict[str, list[Definition]]  # identifier -> its definitions in other files
    kinds: dict[str, str]  # identifier -> one of KINDS
    language: str = "python"


def default_roots() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    roots = [stdlib / name for name in STDLIB_PACKAGES]
    roots += [site / name for name in SITE_PACKAGES]
    return [root for root in roots if root.is_dir()]


def function_body_lines(tree: ast.AST, lines: list[str]) -> dict[int, frozenset[str]]:
    """0-based code lines inside function bodies (not headers, docstrings or comments),
    each with the names the function binds itself (parameters, assignments, imports):
    those are not references to other files even where another file defines the name."""
    strings = _string_lines(tree)
    found: dict[int, frozenset[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
            bound = _bound_names(node)
            for number in range(node.body[0].lineno - 1, node.end_lineno):
                stripped = lines[number].strip()
                if stripped and not stripped.startswith("#") and number not in strings:
                    found[number] = bound  # inner functions overwrite: walk is outer first
    return found


def _string_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.end_lineno:
            lines.update(range(node.lineno - 1, node.end_lineno))
    return lines


def _bound_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> frozenset[str]:
    names = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def used_names(tree: ast.AST) -> dict[int, set[str]]:
    """Per 0-based line, the names it reads and the attributes it accesses: identifiers in
    comments, strings and keyword-argument names are not uses of a definition."""
    return {line: set(kinds) for line, kinds in used_name_kinds(tree).items()}


def used_name_kinds(tree: ast.AST) -> dict[int, dict[str, str]]:
    """Per 0-based line, each name read or attribute accessed, with its kind (a name
    that is both a bare name and an attribute on one line counts as a bare name)."""
    modules = _imported_modules(tree)
    imported = _imported_names(tree)
    loads: dict[str, set[int]] = {}
    found: dict[int, dict[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            found.setdefault(node.lineno - 1, {})[node.id] = "name"
            loads.setdefault(node.id, set()).add(node.lineno - 1)
        elif isinstance(node, ast.Attribute) and node.end_lineno:
            on_line = found.setdefault(node.end_lineno - 1, {})
            base = node.value
            kind = "qualified" if isinstance(base, ast.Name) and base.id in modules else "attribute"
            on_line.setdefault(node.attr, kind)
    for number, names in found.items():
        for name, kind in names.items():
            if kind == "name" and name in imported and loads.get(name, set()) <= {number}:
                names[name] = "import-only"
    return found


def _imported_modules(tree: ast.AST) -> set[str]:
    """Names bound to modules: `import a.b` (a), `import x as y` (y), `from . import mod`
    where mod is lower case (a guess: classes and functions are usually not)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names if a.name.islower())
    return names


def _imported_names(tree: ast.AST) -> set[str]:
    return {
        a.asname or a.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for a in node.names
    }


# Python's own names: `str(x)` or `items.append(x)` mean the builtin even where some file
# of the repository defines a `str` or an `append` (no type inference here to tell).
BUILTIN_NAMES = frozenset(dir(builtins)) | frozenset(
    name for kind in (str, bytes, list, dict, set, tuple, int, object) for name in dir(kind)
)


def sample_points(index: IndexView, repo: str, root: Path) -> list[Point]:
    points = []
    for path in sorted(index.files()):
        language = LANGUAGES.get(Path(path).suffix)
        if language is None or path.endswith(".d.ts") or index.is_secret_path(path):
            continue
        tags = index.file_tags(path)
        if tags is None:
            continue
        source = (root / path).read_text(encoding="utf-8", errors="replace")
        if language == "python":
            points += _python_points(index, repo, path, source, tags)
        else:
            points += _braces_points(index, repo, path, source, tags, language)
    return points


def _python_points(
    index: IndexView, repo: str, path: str, source: str, tags: FileTags
) -> list[Point]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    points = []
    local = {d.name for d in tags.definitions}
    lines = source.split("\n")
    uses = used_name_kinds(tree)
    for number, bound in sorted(function_body_lines(tree, lines).items()):
        targets: dict[str, list[Definition]] = {}
        on_line = uses.get(number, {})
        for name in sorted(on_line):
            if name in local or name in bound or name in BUILTIN_NAMES or len(name) < 2:
                continue
            defs = [d for d in index.definitions_named(name) if d.path != path]
            if defs:
                targets[name] = defs
        if targets:
            kinds = {name: on_line[name] for name in targets}
            points.append(Point(repo, path, number, targets, kinds))
    return points


# JavaScript's and Go's own names: `xs.map(f)` or `len(x)` mean the builtin even where a
# file of the repository defines a `map` (rxjs does) or a `len`.
BRACES_BUILTINS = frozenset(
    """length push pop shift unshift map filter forEach reduce slice splice concat indexOf
    includes join keys values entries apply call bind toString then catch finally has get
    set add delete clear size Array Object Promise Error Map Set WeakMap Symbol console
    JSON Math Number String Boolean Date RegExp undefined null this super true false
    prototype constructor name message stack len cap append make new panic recover copy
    close print println error string int int64 uint bool byte rune float64 any nil iota
    Errorf Sprintf Printf Println Fprintf Fprintln of""".split()
)
_STRING_OR_COMMENT = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`|//.*$')
_DECLARED = re.compile(
    r"\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)|([A-Za-z_]\w*)(?:\s*,\s*[A-Za-z_]\w*)*\s*:="
)
_FUNCTION_KINDS = frozenset({"function", "method"})


def _braces_points(
    index: IndexView, repo: str, path: str, source: str, tags: FileTags, language: str
) -> list[Point]:
    """TypeScript / Go completion points: lines inside function bodies (tags spans)."""
    lines = source.split("\n")
    local = {d.name for d in tags.definitions}
    import_lines = {imp.line for imp in tags.imports}
    imported = {name for imp in tags.imports for name in imp.names}
    modules = _braces_modules(index, path, tags, language)
    mentions: dict[str, set[int]] = {}
    for number, line in enumerate(lines):
        for name in IDENT.findall(_code_of(line)):
            mentions.setdefault(name, set()).add(number)
    points = []
    for function in tags.definitions:
        if function.kind not in _FUNCTION_KINDS or function.end_line - function.start_line < 2:
            continue
        bound = set(IDENT.findall(lines[function.start_line]))  # parameters, receiver
        for number in range(function.start_line + 1, function.end_line):
            code = _code_of(lines[number])
            stripped = code.strip()
            if not stripped or stripped.startswith(("*", "/*")) or number in import_lines:
                continue
            targets: dict[str, list[Definition]] = {}
            kinds: dict[str, str] = {}
            for declared in _DECLARED.finditer(code):  # `const value = ...`: not a use
                bound.update(n for n in declared.groups() if n)
            for match in IDENT.finditer(code):
                name = match.group()
                if name in local or name in bound or name in BRACES_BUILTINS or len(name) < 2:
                    continue
                if _KEY_AFTER.match(code, match.end()):
                    continue  # `value: T` or `{ key: x }`: a declaration, not a use
                kind = _braces_kind(code, match.start(), modules)
                if kind is None:
                    continue  # a member of an outside package
                if kind == "name" and name in imported:
                    if mentions.get(name, set()) - import_lines <= {number}:
                        kind = "import-only"
                defs = [d for d in index.definitions_named(name) if d.path != path]
                if defs and name not in targets:
                    targets[name] = defs
                    kinds[name] = kind
            if targets:
                points.append(Point(repo, path, number, targets, kinds, language))
    return points


IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_KEY_AFTER = re.compile(r"\??\s*:(?!:)")


def _code_of(line: str) -> str:
    return _STRING_OR_COMMENT.sub('""', line)


def _braces_modules(index: IndexView, path: str, tags: FileTags, language: str) -> dict[str, bool]:
    """Names that stand for a module or package -> whether it is a workspace file."""
    found: dict[str, bool] = {}
    for imp in tags.imports:
        if language == "go":
            alias = imp.names[0] if imp.names else imp.module.rsplit("/", 1)[-1]
        elif "* as" in imp.text and imp.names:
            alias = imp.names[0]
        else:
            continue
        found[alias] = index.resolve_import(path, imp) is not None
    return found


def _braces_kind(code: str, start: int, modules: dict[str, bool]) -> str | None:
    before = code[:start].rstrip()
    if not before.endswith(".") or before.endswith(".."):
        return "name"
    owner = re.search(r"([A-Za-z_$][\w$]*)\s*\.$", before)
    if owner is not None and owner.group(1) in modules:
        return "qualified" if modules[owner.group(1)] else None
    return "attribute"


def document_for(root: Path, point: Point) -> tuple[str, int]:
    """The file with the true line emptied; the cursor at that line's start."""
    lines = (root / point.path).read_text(encoding="utf-8", errors="replace").split("\n")
    lines[point.line] = ""
    offset = sum(len(line) + 1 for line in lines[: point.line])
    return "\n".join(lines), offset


def hits(point: Point, pieces: Sequence[ContextPiece]) -> int:
    found = 0
    for defs in point.targets.values():
        if any(_carries(piece, d) for d in defs for piece in pieces):
            found += 1
    return found


def _carries(piece: ContextPiece, definition: Definition) -> bool:
    first = definition.signature.split("\n")[0].strip()
    return piece.source_path == definition.path and bool(first) and first in piece.text


def jaccard_baseline(
    index: IndexView,
    files: list[tuple[str, str]],
    point: Point,
    text: str,
    budget: int,
    count: Callable[[str], int],
) -> list[ContextPiece]:
    """RepoCoder-style retrieval alone: the most similar windows of all other files."""
    query = query_tokens(text.split("\n"), point.line)
    others = {p: t for p, t in files if p != point.path and not index.is_secret_path(p)}
    pieces: list[ContextPiece] = []
    used = 0
    for score, path, start, end in similar_windows(query, others.items(), limit=64):
        body = others[path].split("\n")[start : end + 1]
        snippet = render_snippet("#", path, body)
        tokens = count(snippet + "\n")
        if used + tokens <= budget:
            pieces.append(ContextPiece(path, "similar", score, snippet, tokens))
            used += tokens
    return pieces


def _kind_order(label: str) -> tuple[str, int]:
    language, kind = label.split(":")
    return (language, -1 if kind == "all" else KINDS.index(kind))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(math.ceil(fraction * len(ordered))) - 1)]


def make_counter(model: str | None) -> tuple[Callable[[str], int], str]:
    if model:
        from llama_cpp import Llama

        llama = Llama(model, vocab_only=True, verbose=False)
        return (lambda text: len(llama.tokenize(text.encode(), add_bos=False))), f"gguf:{model}"
    return (lambda text: math.ceil(len(text) / 3.5)), "estimate: chars/3.5 (no tokenizer)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", action="append", type=Path, help="repository (repeatable)")
    parser.add_argument("-n", type=int, default=300, help="completion points in all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokenizer-model", help="GGUF whose vocabulary counts tokens")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "context_recall.json"
    )
    args = parser.parse_args(argv)
    count_raw, tokenizer = make_counter(args.tokenizer_model)
    count = cached_counter(count_raw)
    roots = args.root or default_roots()
    rng = random.Random(args.seed)
    per_repo = max(1, args.n // len(roots))
    totals = {(m, b): [0, 0] for m in ("builder", "jaccard", "in-file") for b in BUDGETS}
    totals[("stable", 0)] = [0, 0]
    times: dict[str, list[float]] = {f"@{b}": [] for b in BUDGETS}
    times["keystroke"] = []
    repos = []
    for source in roots:
        with tempfile.TemporaryDirectory() as scratch:
            # The package inside a workspace of its own, so that its absolute imports
            # (`from email import errors`) resolve as they would in its repository.
            root = Path(scratch) / "ws"
            shutil.copytree(source, root / source.name, ignore=IGNORED)
            index = RepositoryIndex(root, Path(scratch) / "cache", ())
            index.scan()
            points = sample_points(index, source.name, root)
            chosen = sorted(
                rng.sample(points, min(per_repo, len(points))), key=lambda p: (p.path, p.line)
            )
            files = [
                (p, (root / p).read_text(encoding="utf-8", errors="replace")) for p in index.files()
            ]
            repo_totals = evaluate(index, root, files, chosen, count, totals, times)
            repos.append(
                {
                    "repo": str(source),
                    "files": len(files),
                    "points": len(chosen),
                    "candidates": len(points),
                    "recall": repo_totals,
                }
            )
    report(totals, times, tokenizer, repos, args)
    return 0


def evaluate(
    index: IndexView,
    root: Path,
    files: list[tuple[str, str]],
    points: list[Point],
    count: Callable[[str], int],
    totals: dict[tuple[str, int], list[int]],
    times: dict[str, list[float]],
) -> dict[str, float]:
    local = {(m, b): [0, 0] for m in ("builder", "jaccard") for b in BUDGETS}
    for point in points:
        text, offset = document_for(root, point)
        for budget in BUDGETS:
            request = ContextRequest(point.path, point.language, text, offset, budget)
            started = time.perf_counter()
            window = build_context(request, index, count)
            times[f"@{budget}"].append((time.perf_counter() - started) * 1000)
            assert window.tokens <= budget, (window.tokens, budget)
            base = jaccard_baseline(index, files, point, text, budget, count)
            for method, pieces in (("builder", window.pieces), ("jaccard", base)):
                found = hits(point, pieces)
                for bucket in (totals[(method, budget)], local[(method, budget)]):
                    bucket[0] += found
                    bucket[1] += len(point.targets)
            for name, defs in point.targets.items():
                row = totals.setdefault((f"{point.language}:{point.kinds[name]}", budget), [0, 0])
                lang = totals.setdefault((f"{point.language}:all", budget), [0, 0])
                found = any(_carries(piece, d) for d in defs for piece in window.pieces)
                for bucket in (row, lang):
                    bucket[0] += found
                    bucket[1] += 1
            totals[("in-file", budget)][1] += len(point.targets)
            if budget == KEYSTROKE_BUDGET:
                keystroke(index, point, text, offset, window.text, count, times, totals)
    return {f"{m}@{b}": round(h / max(1, n), 3) for (m, b), (h, n) in local.items()}


def keystroke(
    index: IndexView,
    point: Point,
    text: str,
    offset: int,
    expected: str,
    count: Callable[[str], int],
    times: dict[str, list[float]],
    totals: dict[tuple[str, int], list[int]],
) -> None:
    """The user types a character: time it, and check the context text did not change."""
    typed = text[:offset] + "x" + text[offset:]
    request = ContextRequest(point.path, point.language, typed, offset + 1, KEYSTROKE_BUDGET)
    started = time.perf_counter()
    window = build_context(request, index, count)
    times["keystroke"].append((time.perf_counter() - started) * 1000)
    totals[("stable", 0)][0] += window.text == expected
    totals[("stable", 0)][1] += 1


def report(
    totals: dict[tuple[str, int], list[int]],
    times: dict[str, list[float]],
    tokenizer: str,
    repos: list[dict[str, object]],
    args: argparse.Namespace,
) -> None:
    print(f"tokens counted by {tokenizer}")
    for repo in repos:
        print(f"  {repo['repo']}: {repo['files']} files, {repo['points']} points")
    targets = totals[("builder", BUDGETS[0])][1]
    print(f"recall of cross-file definitions used on the next line ({targets} identifiers)")
    print(f"{'method':<10}" + "".join(f"{'@' + str(b):>10}" for b in BUDGETS))
    result: dict[str, object] = {"tokenizer": tokenizer, "seed": args.seed, "repos": repos}
    recall: dict[str, dict[str, float]] = {}
    for method in ("builder", "jaccard", "in-file"):
        row = {}
        for budget in BUDGETS:
            found, total = totals[(method, budget)]
            row[str(budget)] = round(found / max(1, total), 3)
        recall[method] = row
        print(f"{method:<10}" + "".join(f"{row[str(b)]:>10.3f}" for b in BUDGETS))
    print(f"builder recall per language and kind ({'targets':>7})")
    kinds = sorted({m for (m, _b) in totals if ":" in m}, key=_kind_order)
    per_kind: dict[str, dict[str, object]] = {}
    for label in kinds:
        row = {
            str(b): round(totals[(label, b)][0] / max(1, totals[(label, b)][1]), 3) for b in BUDGETS
        }
        n = totals[(label, BUDGETS[0])][1]
        per_kind[label] = {**row, "targets": n}
        print(f"  {label:<22}{n:>7}" + "".join(f"{row[str(b)]:>10.3f}" for b in BUDGETS))
    result["per_kind"] = per_kind
    timing = {
        label: {"p50_ms": round(statistics.median(v), 2), "p95_ms": round(percentile(v, 0.95), 2)}
        for label, v in times.items()
        if v
    }
    for label, stats in timing.items():
        print(f"assembly {label}: p50 {stats['p50_ms']} ms, p95 {stats['p95_ms']} ms")
    stable, tried = totals[("stable", 0)]
    print(f"identical text after a keystroke: {stable}/{tried}")
    result.update(
        {"recall": recall, "timing": timing, "targets": targets, "stable": [stable, tried]}
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
