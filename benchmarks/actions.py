"""Benchmark the code actions on real code none of us wrote.

Docstrings: for undocumented definitions in installed sources (the Python standard library,
npm packages under editors/vscode/node_modules, Go from git's contrib, shell scripts in
/usr/bin), generate the documentation and check that it is placed and delimited correctly:
the file parses with no new errors, the definition is now found as documented, and
every inserted line carries the definition's indentation.

Fix-its: seed one syntax error into a real file (drop a colon, a closing bracket, a closing
quote or a comma), take cl-lsp's own diagnostic for it, and run the fix. A fix is *fixed*
when the result equals the original file (ignoring whitespace), *wrong* when a fix was
offered but the result differs (verification should make this 0), else *not offered*.
Time to resolve is the wall time of one fix (prompt, generation, verification).

    python benchmarks/actions.py                       # SmolLM2 (embedded default model)
    python benchmarks/actions.py --model tiny          # the generated tiny Code Llama
    python benchmarks/actions.py --model path/to/codellama-7b.Q4_K_M.gguf

Prints a table and writes benchmarks/results/actions.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cl_lsp.actions_service import ActionsService, make_service  # noqa: E402
from cl_lsp.config import Settings  # noqa: E402
from cl_lsp.core.doc_slots import doc_slots, undocumented  # noqa: E402
from cl_lsp.core.syntax_tree import SourceText, count_syntax_problems, syntax_problems  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
PY_FILES = [
    "textwrap.py", "shlex.py", "fnmatch.py", "glob.py", "csv.py", "difflib.py",
    "calendar.py", "heapq.py", "bisect.py", "colorsys.py", "json/encoder.py",
    "json/decoder.py", "string.py", "graphlib.py", "statistics.py", "pprint.py",
    "netrc.py", "mimetypes.py", "gettext.py", "tabnanny.py",
]  # fmt: skip
JS_FILES = [
    "editors/vscode/node_modules/commander/lib/command.js",
    "editors/vscode/node_modules/commander/lib/help.js",
    "editors/vscode/node_modules/commander/lib/option.js",
    "editors/vscode/node_modules/commander/lib/suggestSimilar.js",
]
GO_FILES = [
    "/usr/share/doc/git/contrib/persistent-https/main.go",
    "/usr/share/doc/git/contrib/persistent-https/client.go",
    "/usr/share/doc/git/contrib/persistent-https/socket.go",
]
BASH_FILES = ["/usr/bin/apt-key", "/usr/bin/dpkg-maintscript-helper", "/usr/bin/dpkg-realpath"]


def corpus() -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {"python": [], "javascript": [], "go": [], "bash": []}
    for name in PY_FILES:
        found["python"].append(STDLIB / name)
    found["javascript"] = [REPO / p for p in JS_FILES]
    found["go"] = [Path(p) for p in GO_FILES]
    found["bash"] = [Path(p) for p in BASH_FILES]
    return {k: [p for p in v if p.is_file()] for k, v in found.items()}


# --------------------------------------------------------------------------- docstrings


@dataclass
class DocOutcome:
    language: str
    file: str
    name: str
    ok: bool
    reason: str
    seconds: float
    generations: int
    text: str = ""


def check_docstring(text: str, language: str, slot_name: str, edit: Any, indent: str) -> str:
    """ "" when the documentation is placed and delimited correctly, else why not."""
    after = edit.apply(text)
    before_errors = count_syntax_problems(SourceText(text, language).tree)
    if count_syntax_problems(SourceText(after, language).tree) > before_errors:
        return "file no longer parses"
    names = [s for s in doc_slots(after, language) if s.name == slot_name]
    if not any(s.documented for s in names):
        return "not recognised as the definition's documentation"
    block = edit.new_text.strip("\n").split("\n")
    if any(line and not line.startswith(indent) for line in block):
        return "indentation"
    return ""


def run_docstrings(
    service: ActionsService, files: dict[str, list[Path]], per_file: int, limit: int
) -> list[DocOutcome]:
    outcomes: list[DocOutcome] = []
    for language, paths in files.items():
        taken = 0
        for path in paths:
            text = path.read_text(encoding="utf-8", errors="replace")
            for slot in undocumented(text, language)[:per_file]:
                if taken >= limit:
                    break
                started = time.perf_counter()
                result = service.docstring(text, language, slot, rel_path=path.name)
                seconds = time.perf_counter() - started
                reason = check_docstring(text, language, slot.name, result.edit, slot.indent)
                outcomes.append(
                    DocOutcome(
                        language,
                        str(path),
                        slot.name,
                        not reason,
                        reason or "ok",
                        seconds,
                        result.generations,
                        result.edit.new_text,
                    )
                )
                taken += 1
    return outcomes


# --------------------------------------------------------------------------- fix-its

_STRING = re.compile(r"""(["'])(?:(?!\1)[^\\\n])*\1""")


def mutate(line: str, kind: str, language: str) -> str | None:
    """The line with one syntax error seeded, or None when it has nothing to break."""
    code = line.split("#", 1)[0] if language in ("python", "bash") else line
    if kind == "colon":
        if language != "python":
            return None
        stripped = code.rstrip()
        if stripped.endswith(":") and re.match(
            r"\s*(def|if|elif|for|while|class|with|try|else)\b", code
        ):
            return line[: len(stripped) - 1] + line[len(stripped) :]
        return None
    if kind == "bracket":
        for closer in (")", "]", "}"):
            i = code.rfind(closer)
            if i > 0 and not _in_string(code, i):
                return line[:i] + line[i + 1 :]
        return None
    if kind == "quote":
        match = _STRING.search(code)
        if match and match.end() - match.start() >= 3:
            return line[: match.end() - 1] + line[match.end() :]
        return None
    if kind == "comma":
        for match in re.finditer(r",\s", code):
            i = match.start()
            if not _in_string(code, i) and "(" in code[:i]:
                return line[:i] + line[i + 1 :]
        return None
    return None


def _in_string(code: str, index: int) -> bool:
    return any(m.start() < index < m.end() for m in _STRING.finditer(code))


@dataclass
class FixOutcome:
    language: str
    file: str
    line: int
    kind: str
    outcome: str  # fixed | wrong | not_offered | no_diagnostic
    source: str
    seconds: float
    reasons: list[str] = field(default_factory=list)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def run_fixes(
    service: ActionsService,
    files: dict[str, list[Path]],
    per_kind: int,
    seed: int,
    parser_hints: bool,
) -> list[FixOutcome]:
    rng = random.Random(seed)
    outcomes: list[FixOutcome] = []
    for language in ("python", "javascript"):
        paths = files.get(language, [])
        for kind in ("colon", "bracket", "quote", "comma"):
            if kind == "colon" and language != "python":
                continue
            sites: list[tuple[Path, int, str, str]] = []
            for path in paths:
                text = path.read_text(encoding="utf-8", errors="replace")
                if count_syntax_problems(SourceText(text, language).tree):
                    continue
                lines = text.split("\n")
                for number, line in enumerate(lines):
                    broken = mutate(line, kind, language)
                    if broken is not None:
                        sites.append((path, number, text, broken))
            rng.shuffle(sites)
            taken = 0
            for path, number, text, broken_line in sites:
                if taken >= per_kind:
                    break
                lines = text.split("\n")
                lines[number] = broken_line
                broken = "\n".join(lines)
                src = SourceText(broken, language)
                problems = syntax_problems(src)
                if not problems:
                    continue  # the mutation still parses (e.g. a dropped trailing comma)
                taken += 1
                # The diagnostic an editor shows: ours nearest to the edited line.
                line_start = sum(len(x) + 1 for x in lines[:number])
                problem = min(problems, key=lambda p: abs(p.start - line_start))
                started = time.perf_counter()
                result = service.fix(
                    broken,
                    language,
                    problem.start,
                    problem.end,
                    problem.message,
                    rel_path=path.name,
                    parser_hints=parser_hints,
                )
                seconds = time.perf_counter() - started
                if result.edit is None:
                    outcome = "not_offered"
                elif squash(result.edit.apply(broken)) == squash(text):
                    outcome = "fixed"
                else:
                    outcome = "wrong"
                outcomes.append(
                    FixOutcome(
                        language,
                        str(path),
                        number + 1,
                        kind,
                        outcome,
                        result.source if result.edit else "",
                        seconds,
                        [v.reason for _, v in result.verdicts][:4],
                    )
                )
    return outcomes


# --------------------------------------------------------------------------- report


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summarize(docs: list[DocOutcome], fixes: list[FixOutcome]) -> dict[str, Any]:
    summary: dict[str, Any] = {"docstrings": {}, "fixes": {}}
    for language in sorted({d.language for d in docs}) + ["all"]:
        group = [d for d in docs if language in ("all", d.language)]
        if not group:
            continue
        summary["docstrings"][language] = {
            "n": len(group),
            "placed_ok": sum(d.ok for d in group) / len(group),
            "seconds_p50": percentile([d.seconds for d in group], 0.5),
            "seconds_p95": percentile([d.seconds for d in group], 0.95),
            "generations_mean": statistics.mean(d.generations for d in group),
        }
    for kind in sorted({f.kind for f in fixes}) + ["all"]:
        group = [f for f in fixes if kind in ("all", f.kind)]
        if not group:
            continue
        n = len(group)
        summary["fixes"][kind] = {
            "n": n,
            "fixed": sum(f.outcome == "fixed" for f in group) / n,
            "fixed_by_model": sum(f.outcome == "fixed" and f.source == "model" for f in group) / n,
            "wrong": sum(f.outcome == "wrong" for f in group) / n,
            "not_offered": sum(f.outcome == "not_offered" for f in group) / n,
            "seconds_p50": percentile([f.seconds for f in group], 0.5),
            "seconds_p95": percentile([f.seconds for f in group], 0.95),
        }
    return summary


def print_table(model: str, mode: str, summary: dict[str, Any]) -> None:
    print(f"\nmodel: {model}   prompt mode: {mode}")
    print("\nDocstrings          n  placed+delimited+parses   p50 s   p95 s  generations")
    for language, row in summary["docstrings"].items():
        print(
            f"  {language:<14} {row['n']:>4}  {row['placed_ok']:>22.1%}  {row['seconds_p50']:>6.2f}"
            f"  {row['seconds_p95']:>6.2f}  {row['generations_mean']:>11.1f}"
        )
    print("\nFix-its             n   fixed  (model)   wrong  not offered   p50 s   p95 s")
    for kind, row in summary["fixes"].items():
        print(
            f"  {kind:<14} {row['n']:>4}  {row['fixed']:>6.1%}  {row['fixed_by_model']:>6.1%}"
            f"  {row['wrong']:>6.1%}  {row['not_offered']:>11.1%}  {row['seconds_p50']:>6.2f}"
            f"  {row['seconds_p95']:>6.2f}"
        )


def load(model: str, n_ctx: int) -> tuple[ActionsService, str, Any]:
    from cl_lsp.engine.loader import load_session

    settings = Settings()
    settings.context.enabled = False
    if model == "tiny":
        from cl_lsp.testing.tiny_model import cached_tiny_codellama

        settings.model.path = str(cached_tiny_codellama(Path.home() / ".cache/cl-lsp/test-models"))
    elif model != "smollm":
        settings.model.path = model
    settings.model.n_ctx = n_ctx
    session = load_session(settings.model)
    engine = session.engine
    return make_service(engine, settings, None, session.chat), engine.description, engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm", help="smollm | tiny | PATH.gguf")
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--docs-per-file", type=int, default=2)
    parser.add_argument("--docs-per-language", type=int, default=12)
    parser.add_argument("--fixes-per-kind", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--parser-hints",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="when the model's fixes fail verification, try tree-sitter's missing-token "
        "insertion, as the server does (completion.fix_parser_hints)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/actions.json")
    args = parser.parse_args(argv)

    service, description, engine = load(args.model, args.n_ctx)
    files = corpus()
    try:
        docs = run_docstrings(service, files, args.docs_per_file, args.docs_per_language)
        fixes = run_fixes(service, files, args.fixes_per_kind, args.seed, args.parser_hints)
    finally:
        engine.close()
    summary = summarize(docs, fixes)
    print_table(description, service.mode, summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    existing: dict[str, Any] = {}
    if args.out.is_file():
        try:
            existing = json.loads(args.out.read_text())
        except ValueError:
            existing = {}
    existing[args.model if args.model in ("tiny", "smollm") else Path(args.model).name] = {
        "model": description,
        "mode": service.mode,
        "summary": summary,
        "docstrings": [d.__dict__ for d in docs],
        "fixes": [f.__dict__ for f in fixes],
    }
    args.out.write_text(json.dumps(existing, indent=1))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
