"""The repository context builder: ranking, budget, secrets, stability (with the real index)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cl_lsp.core.index import RepositoryIndex
from cl_lsp.core.retrieval import (
    ContextRequest,
    ContextSplit,
    ContextWindow,
    build_context,
    explain,
)
from cl_lsp.core.scope import find_scope


def words(text: str) -> int:
    """A simple whitespace token counter: deterministic and easy to reason about."""
    return len(text.split())


GEOMETRY = '''\
"""Shapes and their measures."""


def area(width: float, height: float) -> float:
    """Area of a width x height rectangle."""
    return width * height


def perimeter(width: float, height: float) -> float:
    return 2 * (width + height)


class Shape:
    """Something with an outline."""

    def scale(self, factor: float) -> "Shape":
        """A copy, scaled by factor."""
        return self

    def outline(self) -> list[tuple[float, float]]:
        return []
'''

UTIL = """\
def slugify(text: str) -> str:
    return text.lower().replace(" ", "-")


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))
"""

APP = """\
from pkg.geometry import area, Shape
from pkg import util


def report(width, height):
    size = area(width, height)
    label = util.slugify("size")
    shape = Shape()
    bigger = shape.scale(2.0)

    return label


def other(values):
    total = 0
    for value in values:
        total += util.clamp(value, 0, 10) + perimeter(value, value)

    return total
"""

LOADER = """\
import os

API_KEY = os.environ.get("API_KEY", "")


def load_settings(path):
    return {"key": API_KEY}
"""

SECRET = "API_KEY=hunter2-secret-value\n"


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, RepositoryIndex]:
    root = tmp_path / "ws"
    write(
        root,
        {
            "pkg/__init__.py": "",
            "pkg/geometry.py": GEOMETRY,
            "pkg/util.py": UTIL,
            "pkg/app.py": APP,
            "pkg/loader.py": LOADER,
            ".env": SECRET,
        },
    )
    index = RepositoryIndex(root, tmp_path / "cache", ())
    index.scan()
    return root, index


def cursor_at(text: str, marker_line: str, before: bool = False) -> int:
    """Offset of the start of the first line equal to `marker_line` (stripped)."""
    offset = 0
    for line in text.split("\n"):
        if line.strip() == marker_line:
            return offset
        offset += len(line) + 1
    raise AssertionError(f"no line {marker_line!r}")


def request(text: str, offset: int, budget: int = 400, **extra: object) -> ContextRequest:
    return ContextRequest("pkg/app.py", "python", text, offset, budget, **extra)  # type: ignore[arg-type]


def blank_line_in_report(text: str) -> int:
    """The blank line before `return label` in report()."""
    return cursor_at(text, "return label") - 1


def test_definition_used_at_cursor_lands_in_context(
    workspace: tuple[Path, RepositoryIndex],
) -> None:
    _, index = workspace
    window = build_context(request(APP, blank_line_in_report(APP)), index, words)
    assert "# Path: pkg/geometry.py" in window.text
    assert "# def area(width: float, height: float) -> float:" in window.text
    assert "Area of a width x height rectangle." in window.text
    # The method called on an instance of an imported class comes with its class header.
    assert "def scale(self, factor: float)" in window.text
    assert all(p.source_path != "pkg/app.py" for p in window.pieces)


def test_imported_module_api_appears(workspace: tuple[Path, RepositoryIndex]) -> None:
    _, index = workspace
    window = build_context(request(APP, blank_line_in_report(APP)), index, words)
    util_pieces = [p for p in window.pieces if p.source_path == "pkg/util.py"]
    assert util_pieces
    assert "def slugify(text: str) -> str:" in window.text
    assert "def clamp(value: int, low: int, high: int) -> int:" in window.text


def test_every_line_is_a_comment_labelled_with_its_path(
    workspace: tuple[Path, RepositoryIndex],
) -> None:
    _, index = workspace
    window = build_context(request(APP, blank_line_in_report(APP)), index, words)
    assert window.text.endswith("\n")
    assert all(line.startswith("#") for line in window.text.splitlines())
    for piece in window.pieces:
        assert piece.text.split("\n")[0] == f"# Path: {piece.source_path}"


def test_secret_file_never_appears(workspace: tuple[Path, RepositoryIndex]) -> None:
    root, index = workspace
    assert index.is_secret_path(".env")
    text = APP.replace("    return label", "    key = API_KEY\n    return label")
    window = build_context(
        request(
            text,
            blank_line_in_report(text),
            budget=2000,
            open_documents={".env": SECRET, "pkg/loader.py": LOADER},
            recent_edits=[(".env", SECRET), ("pkg/loader.py", "API_KEY = 1")],
        ),
        index,
        words,
    )
    assert "hunter2" not in window.text
    assert all(p.source_path != ".env" for p in window.pieces)
    assert "# Path: .env" not in window.text


def test_paths_out_of_the_workspace_are_never_read(
    workspace: tuple[Path, RepositoryIndex], tmp_path: Path
) -> None:
    root, index = workspace
    outside = tmp_path / "outside.py"
    outside.write_text("def leaked_secret_function():\n    return 42\n", encoding="utf-8")
    (root / "pkg" / "link.py").symlink_to(outside)
    edits = [("../outside.py", "x"), ("pkg/link.py", "y")]
    window = build_context(
        request(APP, blank_line_in_report(APP), 2000, recent_edits=edits), index, words
    )
    assert "leaked_secret_function" not in window.text


def test_budget_is_never_exceeded(workspace: tuple[Path, RepositoryIndex]) -> None:
    _, index = workspace
    extra = {
        "open_documents": {"pkg/geometry.py": GEOMETRY, "pkg/util.py": UTIL},
        "recent_edits": [("pkg/util.py", UTIL), ("pkg/geometry.py", GEOMETRY)],
    }
    for budget in (0, 1, 5, 10, 17, 33, 64, 100, 150, 250, 400, 1000):
        window = build_context(
            request(APP, blank_line_in_report(APP), budget, **extra), index, words
        )
        assert window.tokens <= budget
        assert words(window.text) <= budget
        assert sum(p.tokens for p in window.pieces) <= max(budget, 0)
    assert build_context(request(APP, 0, 0), index, words) == ContextWindow((), "", 0, 0)


def test_same_definition_is_not_included_twice(workspace: tuple[Path, RepositoryIndex]) -> None:
    _, index = workspace
    text = APP.replace("    return label", "    again = area(1, 2) + area(3, 4)\n    return label")
    window = build_context(request(text, blank_line_in_report(text), budget=2000), index, words)
    assert window.text.count("def area(width: float, height: float) -> float:") == 1
    assert window.text.count("def slugify(text: str) -> str:") == 1


def typed(text: str, offset: int, line: str) -> list[tuple[str, int]]:
    """Every state of the document while `line` is typed at `offset`, key by key."""
    states = []
    for end in range(len(line) + 1):
        states.append((text[:offset] + line[:end] + text[offset:], offset + end))
    return states


def test_text_is_stable_while_typing_on_a_line(workspace: tuple[Path, RepositoryIndex]) -> None:
    root, index = workspace
    offset = blank_line_in_report(APP) + len("    ")
    extra = {
        "open_documents": {"pkg/geometry.py": GEOMETRY},
        "recent_edits": [("pkg/util.py", UTIL)],
    }
    texts = set()
    for text, cursor in typed(APP, offset, "perim = perimeter(width, height) + clamp(1, 2, 3)"):
        index.update_text("pkg/app.py", text, "python")  # as the server does on didChange
        texts.add(build_context(request(text, cursor, 600, **extra), index, words).text)
    assert len(texts) == 1
    assert "def area" in texts.pop()


def test_text_changes_when_moving_to_another_function(
    workspace: tuple[Path, RepositoryIndex],
) -> None:
    _, index = workspace
    in_report = build_context(request(APP, blank_line_in_report(APP), 60), index, words)
    in_other = build_context(request(APP, cursor_at(APP, "return total") - 1, 60), index, words)
    assert in_report.text != in_other.text
    assert "def area" in in_report.text
    assert "def clamp" in in_other.text and "def perimeter" in in_other.text


def test_similar_code_from_open_documents(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    sibling = "def summarize(rows):\n    totals = {}\n    for row in rows:\n" + (
        "        totals[row.key] = totals.get(row.key, 0) + row.amount\n    return totals\n"
    )
    current = "def collect(rows):\n    totals = {}\n    for row in rows:\n\n"
    write(root, {"a/sibling.py": sibling, "a/current.py": current})
    index = RepositoryIndex(root, tmp_path / "cache", ())
    index.scan()
    req = ContextRequest(
        "a/current.py",
        "python",
        current,
        len(current) - 1,
        300,
        open_documents={"a/sibling.py": sibling, "a/current.py": current},
        recent_edits=[("a/current.py", "totals = {}")],
    )
    window = build_context(req, index, words)
    kinds = {p.kind for p in window.pieces}
    assert "similar" in kinds
    assert "totals[row.key] = totals.get(row.key, 0) + row.amount" in window.text
    assert all(p.source_path != "a/current.py" for p in window.pieces)


def test_split_decides_who_wins_a_tight_budget(workspace: tuple[Path, RepositoryIndex]) -> None:
    _, index = workspace
    extra = {"open_documents": {"pkg/geometry.py": GEOMETRY}}
    offset = blank_line_in_report(APP)
    default = build_context(request(APP, offset, 60, **extra), index, words)
    assert default.pieces and all(p.kind == "definition" for p in default.pieces)
    split = ContextSplit(definition=0.0, api=0.0, similar=1.0, edit=0.0)
    similar_first = build_context(request(APP, offset, 60, split=split, **extra), index, words)
    assert "similar" in [p.kind for p in similar_first.pieces]
    assert similar_first.tokens <= 60


def test_typescript_definition_with_line_comments(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    geo = (
        "/** Area of a rectangle. */\n"
        "export function area(width: number, height: number): number {\n"
        "  return width * height;\n"
        "}\n"
    )
    app = (
        'import { area } from "./geo";\n\n'
        "export function report(w: number, h: number): string {\n"
        "  const size = area(w, h);\n"
        "\n"
        "  return String(size);\n"
        "}\n"
    )
    write(root, {"src/geo.ts": geo, "src/app.ts": app})
    index = RepositoryIndex(root, tmp_path / "cache", ())
    index.scan()
    offset = app.index("\n\n  return") + 1
    window = build_context(
        ContextRequest("src/app.ts", "typescript", app, offset, 200), index, words
    )
    assert "// Path: src/geo.ts" in window.text
    assert "// export function area(width: number, height: number): number" in window.text
    assert "// /** Area of a rectangle. */" in window.text
    assert all(line.startswith("//") for line in window.text.splitlines())


def test_c_definitions_through_an_include(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    header = "#ifndef UTIL_H\n#define UTIL_H\nstruct point { int x; int y; };\n#endif\n"
    util = (
        '#include "util.h"\n\n'
        "/* Clamp v into [lo, hi]. */\n"
        "int clamp(int v, int lo, int hi)\n{\n    return v < lo ? lo : v > hi ? hi : v;\n}\n"
    )
    main = (
        '#include "util.h"\n\n'
        "int main(void)\n{\n"
        "    struct point p = {1, 2};\n"
        "    int v = clamp(p.x, 0, 10);\n"
        "\n"
        "    return v;\n}\n"
    )
    write(root, {"util.h": header, "util.c": util, "main.c": main})
    index = RepositoryIndex(root, tmp_path / "cache", ())
    index.scan()
    offset = main.index("\n\n    return") + 1
    window = build_context(ContextRequest("main.c", "c", main, offset, 200), index, words)
    assert "// Path: util.c" in window.text
    assert "// int clamp(int v, int lo, int hi)" in window.text
    assert "// /* Clamp v into [lo, hi]. */" in window.text
    assert "// Path: util.h" in window.text and "// struct point" in window.text
    assert all(line.startswith("//") for line in window.text.splitlines())
    typed = main[:offset] + "    printf" + main[offset:]
    again = build_context(ContextRequest("main.c", "c", typed, offset + 10, 200), index, words)
    assert again.text == window.text


def test_c_function_scope_by_braces() -> None:
    lines = [
        "#include <stdio.h>",
        "",
        "static int helper(int x)",
        "{",
        "    if (x > 0) {",
        "        return x;",
        "    }",
        "    ",
        "}",
    ]
    scope = find_scope(lines, 7, "c")
    assert scope.header == 2
    assert scope.end == 8


def test_python_method_scope_and_outer_class() -> None:
    lines = [
        "class A(Base):",
        "    def m(self):",
        "        x = 1",
        "        if x:",
        "            y = 2",
        "        ",
        "    def n(self):",
        "        pass",
    ]
    scope = find_scope(lines, 5, "python")
    assert scope.header == 1
    assert scope.outer == (0,)
    assert scope.end == 5


def test_odd_requests_do_not_fail(workspace: tuple[Path, RepositoryIndex]) -> None:
    _, index = workspace
    for text, offset, language in (("", 0, "python"), ("x = 1", 99, "python"), ("a b", 1, "cobol")):
        window = build_context(ContextRequest("new.py", language, text, offset, 50), index, words)
        assert window.tokens <= 50
    unindexed = build_context(ContextRequest("new.py", "python", APP, 200, 100), index, words)
    assert "def area" in unindexed.text  # no tags for the file yet: identifiers still resolve


def test_explain_lists_pieces(workspace: tuple[Path, RepositoryIndex]) -> None:
    _, index = workspace
    window = build_context(request(APP, blank_line_in_report(APP)), index, words)
    table = explain(window)
    assert "pkg/geometry.py" in table and "definition" in table
    assert f"total {window.tokens} / 400 tokens" in table


def test_a_long_doc_comment_line_does_not_hide_a_file(tmp_path: Path) -> None:
    """A TypeScript file whose one long line is a doc comment is code, not minified."""
    root = tmp_path / "ws"
    prose = "Routes each request to the handler registered for its path, " * 18
    assert len(prose) > 1000
    router = (
        f"/**\n * {prose}\n */\n"
        "export class Router {\n"
        "  dispatch(path: string): string {\n"
        "    return path;\n"
        "  }\n"
        "}\n"
    )
    app = (
        'import { Router } from "./router";\n\n'
        "export function serve(router: Router): string {\n"
        '  const path = "/";\n'
        "\n"
        "  return router.dispatch(path);\n"
        "}\n"
    )
    minified = "/*! v1 */\n" + "function a(){return 1}" * 100 + "\n"
    write(root, {"src/router.ts": router, "src/app.ts": app, "src/bundle.js": minified})
    index = RepositoryIndex(root, tmp_path / "cache", ())
    index.scan()
    assert index.files() == ["src/app.ts", "src/router.ts"]  # the bundle is still skipped
    offset = app.index("\n\n  return") + 1
    window = build_context(
        ContextRequest("src/app.ts", "typescript", app, offset, 300), index, words
    )
    assert "// export class Router" in window.text
    assert "dispatch(path: string): string" in window.text


CLI_UTILS = '''\
def echo(message: str, err: bool = False) -> None:
    """Print a message and a newline to stdout or a file."""
    print(message)
'''

CLI_APP = """\
from pkg.termui import echo


def greet(name):
    echo("hello")
    text = name.title()

    return text
"""


def test_builtin_like_names_defined_in_the_workspace_are_looked_up(tmp_path: Path) -> None:
    """`echo`, `format`, `open`... are noise unless the workspace defines them (click)."""
    root = tmp_path / "ws"
    write(root, {"pkg/__init__.py": "", "pkg/termui.py": CLI_UTILS, "pkg/cli.py": CLI_APP})
    index = RepositoryIndex(root, tmp_path / "cache", ())
    index.scan()
    offset = cursor_at(CLI_APP, "return text") - 1
    split = ContextSplit(definition=1.0, api=0.0, similar=0.0, edit=0.0)
    request = ContextRequest("pkg/cli.py", "python", CLI_APP, offset, 200, split=split)
    window = build_context(request, index, words)
    assert "# def echo(message: str, err: bool = False) -> None:" in window.text
    assert "Print a message and a newline" in window.text  # the scope uses it: with its doc


def test_identifiers_skip_builtins_unless_defined() -> None:
    from cl_lsp.core.scope import identifiers

    assert identifiers("echo(format(x, open))") == []
    assert identifiers("echo(format(x, open))", {"echo"}.__contains__) == ["echo"]
    assert identifiers("return self.value if value else None") == ["value", "value"]


LEDGER = '''\
class Ledger:
    """Double-entry bookkeeping."""

    def __init__(self) -> None:
        self.lines = []

    def open_account(self, name: str) -> None:
        pass

    def post_entry(self, debit: str, credit: str, amount: int) -> None:
        pass
'''

JOURNAL = """\
class Journal:
    def post_entry(self, text: str) -> None:
        pass
"""

BOOKS = """\
from pkg.ledger import Ledger
from pkg.journal import Journal


class Books:
    def __init__(self) -> None:
        self.main = Ledger()
        self.diary = Journal()

    def close_year(self, amount):
        total = amount * 2

        return total
"""


def test_the_declared_class_of_an_object_decides_its_members(tmp_path: Path) -> None:
    """`self.main = Ledger()` far above: in a method that uses `self.main`, Ledger's
    members are what `self.main.` will need."""
    root = tmp_path / "ws"
    write(
        root,
        {
            "pkg/__init__.py": "",
            "pkg/ledger.py": LEDGER,
            "pkg/journal.py": JOURNAL,
            "pkg/books.py": BOOKS.replace("total = amount * 2", "total = self.main.lines"),
        },
    )
    index = RepositoryIndex(root, tmp_path / "cache", ())
    index.scan()
    text = (root / "pkg/books.py").read_text()
    offset = cursor_at(text, "return total") - 1
    split = ContextSplit(definition=1.0, api=0.0, similar=0.0, edit=0.0)
    request = ContextRequest("pkg/books.py", "python", text, offset, 40, split=split)
    window = build_context(request, index, words)
    assert "def post_entry(self, debit: str, credit: str, amount: int) -> None:" in window.text
    assert "def post_entry(self, text: str)" not in window.text  # Journal's is not meant


GO_COMMAND = """\
package cli

// Command is one command of the tree.
type Command struct {
	Use  string
	Long string
}
"""

GO_METHODS = """\
package cli

func (c *Command) Runnable() bool {
	return c.Use != ""
}

func (c *Command) HasSubCommands() bool {
	return false
}
"""

GO_HELPERS = """\
package cli

// usageLine renders the first line of a command's usage.
func usageLine(name string) string {
	return name
}
"""

GO_CURRENT = """\
package cli

func (c *Command) describe() string {
	text := c.Long

	return text
}
"""


def test_go_methods_of_the_receiver_type_and_package_functions(tmp_path: Path) -> None:
    """Go methods live outside their struct, in any file of the package; the package's
    other files are in scope without an import."""
    root = tmp_path / "ws"
    write(
        root,
        {
            "cli/command.go": GO_COMMAND,
            "cli/methods.go": GO_METHODS,
            "cli/helpers.go": GO_HELPERS,
            "cli/describe.go": GO_CURRENT,
        },
    )
    index = RepositoryIndex(root, tmp_path / "cache", ())
    index.scan()
    offset = GO_CURRENT.index("\n\n\treturn text") + 1
    window = build_context(
        ContextRequest("cli/describe.go", "go", GO_CURRENT, offset, 300), index, words
    )
    assert "// type Command struct" in window.text
    assert "func (c *Command) Runnable() bool" in window.text
    assert "func (c *Command) HasSubCommands() bool" in window.text
    assert "func usageLine(name string) string" in window.text


def test_a_name_imported_but_not_used_yet_is_shown_with_its_doc(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    dates = (
        "/** Formats a date as YYYY-MM-DD for the report header. */\n"
        "export function formatDay(day: Date): string {\n"
        "  return day.toISOString().slice(0, 10);\n"
        "}\n"
        "/** Parses YYYY-MM-DD. */\n"
        "export function parseDay(text: string): Date {\n"
        "  return new Date(text);\n"
        "}\n"
    )
    app = (
        'import { formatDay } from "./dates";\n\n'
        "export function header(title: string, day: Date): string {\n"
        "  const name = title.trim();\n"
        "\n"
        "  return name;\n"
        "}\n"
    )
    write(root, {"src/dates.ts": dates, "src/app.ts": app})
    index = RepositoryIndex(root, tmp_path / "cache", ())
    index.scan()
    offset = app.index("\n\n  return") + 1
    split = ContextSplit(definition=1.0, api=0.0, similar=0.0, edit=0.0)
    request = ContextRequest("src/app.ts", "typescript", app, offset, 40, split=split)
    window = build_context(request, index, words)
    assert "// /** Formats a date as YYYY-MM-DD for the report header. */" in window.text
