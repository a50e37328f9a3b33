"""Docstring slots, rendering, fix regions, verification and the actions service (fake engine)."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from cl_lsp.actions_service import ActionsService
from cl_lsp.config import Settings
from cl_lsp.core.action_replies import tidy_answer
from cl_lsp.core.doc_render import DocParts, detect_python_style, doc_frame, humanize, render_doc
from cl_lsp.core.doc_slots import doc_slots, slot_at, undocumented
from cl_lsp.core.fixits import fix_candidates, fix_region, verify_fix
from cl_lsp.core.prompt import FimTokens, PromptSpec
from cl_lsp.core.syntax_tree import SourceText, count_syntax_problems, syntax_problems
from cl_lsp.core.text_edit import Edit, minimal_edit
from cl_lsp.engine.base import Cancelled, EngineStats, GenerationRequest, GenerationResult
from cl_lsp.engine.chat_format import ChatFormat

NOISE = 'odd */ text """ with \\ back\x07slash and <tags> & "quotes"'

SAMPLES = {
    "python": (
        "import os\n\n\nclass Box:\n    def put(self, item, *rest, key=None) -> None:\n"
        "        self.items.append(item)\n",
        "put",
    ),
    "javascript": ("export function area(w, h) {\n  return w * h;\n}\n", "area"),
    "typescript": (
        "class Shape {\n  grow(factor: number): number {\n    return factor;\n  }\n}\n",
        "grow",
    ),
    "tsx": ("const View = (props) => {\n  return props.x;\n};\n", "View"),
    "java": (
        "class A {\n  @Override\n  public int m(int x, String y) {\n    return x;\n  }\n}\n",
        "m",
    ),
    "c": ("static int add(int a, int *b) {\n  return a;\n}\n", "add"),
    "cpp": ("template <typename T>\nT add(T a, T b) {\n  return a;\n}\n", "add"),
    "c_sharp": ("class A {\n  [Obsolete]\n  public int M(int x) {\n    return x;\n  }\n}\n", "M"),
    "php": ("<?php\nclass A {\n  public function m($x) {\n    return $x;\n  }\n}\n", "m"),
    "go": ("package p\n\nfunc Add(a, b int) int {\n\treturn a\n}\n", "Add"),
    "rust": ("#[inline]\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n", "add"),
    "bash": ("greet() {\n  echo hi\n}\n", "greet"),
}

# (language, the first documentation line, the definition's first line after it)
PLACEMENT = {
    "python": ('        """Noise."""', None),
    "javascript": ("/**", "export function area(w, h) {"),
    "typescript": ("  /**", "  grow(factor: number): number {"),
    "tsx": ("/**", "const View = (props) => {"),
    "java": ("  /**", "  @Override"),
    "c": ("/**", "static int add(int a, int *b) {"),
    "cpp": ("/**", "template <typename T>"),
    "c_sharp": ("  /// <summary>", "  [Obsolete]"),
    "php": ("  /**", "  public function m($x) {"),
    "go": ("// Add noise.", "func Add(a, b int) int {"),
    "rust": ("/// Noise.", "#[inline]"),
    "bash": ("# Noise.", "greet() {"),
}


def slot_named(text: str, language: str, name: str):
    (slot,) = [s for s in doc_slots(text, language) if s.name == name]
    return slot


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_documentation_is_placed_delimited_and_parses(language: str) -> None:
    text, name = SAMPLES[language]
    slot = slot_named(text, language, name)
    assert not slot.documented
    parts = DocParts(NOISE, {p: NOISE for p in slot.params}, NOISE if slot.returns else None)
    after = Edit(*slot.span, render_doc(slot, parts)).apply(text)
    assert count_syntax_problems(SourceText(after, language).tree) == 0, after
    # The definition is otherwise untouched, and now documented (found as existing).
    assert slot_named(after, language, name).documented
    first, following = PLACEMENT[language]
    if language == "python":
        # A backslash in the text makes it a raw docstring (PEP 257).
        assert after.split("\n")[5].startswith('        r"""Odd text')
        assert after.count('"""') == 2  # the noise's quotes were neutralised
        return
    lines = after.split("\n")
    start = lines.index(first) if language not in ("go", "rust", "bash") else None
    if start is None:
        start = next(i for i, line in enumerate(lines) if line.startswith(first.split()[0] + " "))
    end = lines.index(following)
    block = lines[start:end]
    indent = first[: len(first) - len(first.lstrip())]
    assert all(line.startswith(indent) for line in block)
    assert "*/" not in "\n".join(block[1:-1])


def test_parameters_and_returns_per_convention() -> None:
    text, _ = SAMPLES["java"]
    slot = slot_named(text, "java", "m")
    assert slot.params == ["x", "y"] and slot.returns
    doc = render_doc(slot, DocParts("does it", {"x": "first", "y": "second"}, "a number"))
    assert "  * @param x first\n" in doc.replace(" * ", "* ") or "@param x first" in doc
    assert "@return a number" in doc
    text, _ = SAMPLES["c_sharp"]
    slot = slot_named(text, "c_sharp", "M")
    doc = render_doc(slot, DocParts("Does <it>.", {"x": "a & b"}, "it"))
    assert '/// <param name="x">a &amp; b</param>' in doc
    assert "/// Does &lt;it&gt;." in doc and "/// <returns>it</returns>" in doc
    text, _ = SAMPLES["python"]
    slot = slot_named(text, "python", "put")
    assert slot.params == ["item", "rest", "key"] and not slot.returns  # -> None
    parts = DocParts("stores", {"item": "the item"})
    assert "\n        Args:\n            item: the item\n" in render_doc(slot, parts, "google")
    assert "\n        Parameters\n        ----------\n        item\n" in render_doc(
        slot, parts, "numpy"
    )
    assert "\n        :param item: the item\n" in render_doc(slot, parts, "rest")


def test_go_doc_starts_with_the_name_and_summary_defaults_to_the_name() -> None:
    text, _ = SAMPLES["go"]
    slot = slot_named(text, "go", "Add")
    assert render_doc(slot, DocParts("returns the sum")) == "// Add returns the sum.\n"
    python = slot_named(SAMPLES["python"][0], "python", "put")
    assert render_doc(python, DocParts("")).strip() == '"""Put."""'
    assert humanize("readFileSync") == "Read file sync"


def test_existing_documentation_is_replaced_not_duplicated() -> None:
    text = 'def f(x):\n    """Old."""\n    return x\n'
    slot = slot_named(text, "python", "f")
    assert slot.existing == (10, 25)
    go = "package p\n\n// Add adds.\n// More.\nfunc Add() {}\n"
    assert slot_named(go, "go", "Add").existing == (11, 33)
    rust = "/// Old.\n#[inline]\nfn f() {}\n"
    assert slot_named(rust, "rust", "f").existing == (0, 9)
    js = "// not a doc comment\nfunction f() {}\n"
    assert slot_named(js, "javascript", "f").existing is None
    assert [s.name for s in undocumented(text + "\ndef g():\n    pass\n", "python")] == ["g"]


def test_inline_body_and_class_blank_line() -> None:
    text = "def f(): return 1\n\n\nclass K:\n    x = 1\n"
    f = slot_named(text, "python", "f")
    after = Edit(*f.span, render_doc(f, DocParts("one"))).apply(text)
    assert after.startswith('def f():\n    """One."""\n    return 1\n')
    k = slot_named(after, "python", "K")
    after = Edit(k.insert, k.insert, render_doc(k, DocParts("a k"))).apply(after)
    assert '\nclass K:\n    """A k."""\n\n    x = 1\n' in after
    assert count_syntax_problems(SourceText(after, "python").tree) == 0


def test_slot_at_picks_the_innermost_definition() -> None:
    text = "class A:\n    def m(self):\n        return 1\n\n    y = 2\n"
    assert slot_at(text, "python", text.index("return")).name == "m"
    assert slot_at(text, "python", text.index("y = 2")).name == "A"
    assert slot_at("x = 1\n", "python", 0) is None


def test_doc_frame_splits_the_skeleton_at_the_piece() -> None:
    text = "def f(a, b):\n    return a\n"
    slot = slot_named(text, "python", "f")
    parts = DocParts("", {"a": "", "b": ""}, "")
    frame = doc_frame(slot, parts, "google", "summary")
    assert frame.before == '    """'
    assert frame.after.startswith("\n\n    Args:\n        a:\n        b:\n\n    Returns:")
    frame = doc_frame(slot, DocParts("Sum.", {"a": "", "b": ""}, ""), "google", "param:b")
    assert frame.before.endswith("        b: ") and frame.after.startswith("\n\n    Returns:")


def test_python_style_detection() -> None:
    google = '"""X.\n\nArgs:\n    a: b\n\nReturns:\n    c\n"""'
    numpy = '"""X.\n\nParameters\n----------\na : int\n"""'
    rest = '"""X.\n\n:param a: b\n:returns: c\n"""'
    assert detect_python_style(google) == "google"
    assert detect_python_style(numpy) == "numpy"
    assert detect_python_style(rest) == "rest"
    assert detect_python_style("x = 1") == "google"


# --------------------------------------------------------------------------- fixes

CLEAN = "def add(a, b):\n    total = a + b\n    return total\n\nprint(add(1, 2))\n"


def test_fix_region_is_the_smallest_statement() -> None:
    broken = CLEAN.replace("print(add(1, 2))", "print(add(1, 2)")
    src = SourceText(broken, "python")
    (problem,) = syntax_problems(src)
    region = fix_region(src, problem.start, problem.end)
    assert region.text(broken) == "print(add(1, 2)\n"


def test_verification_accepts_a_fix_and_rejects_deletions_rewrites_and_noise() -> None:
    broken = CLEAN.replace("def add(a, b):", "def add(a, b)")
    src = SourceText(broken, "python")
    problem = syntax_problems(src)[0]
    region = fix_region(src, problem.start, problem.end)
    old = region.text(broken)
    fixed = old.replace("def add(a, b)", "def add(a, b):")
    assert verify_fix(src, region, fixed, 0).ok
    assert not verify_fix(src, region, "", 0).ok  # deleting the code parses, but no
    assert not verify_fix(src, region, "def add(a, b):\n    return a + b\n", 0).ok
    assert not verify_fix(src, region, old, 0).ok
    assert not verify_fix(src, region, "<unused12>zi<unused7>\n", 0).ok
    # A diagnostic from another tool on a clean file: may change a word when allowed.
    clean = SourceText(CLEAN, "python")
    line = fix_region(clean, CLEAN.index("total ="), CLEAN.index("total =") + 5)
    renamed = line.text(CLEAN).replace("a + b", "a + c")
    assert not verify_fix(clean, line, renamed, 1).ok
    assert verify_fix(clean, line, renamed, 1, syntax=False, max_word_changes=2).ok


def test_minimal_edit_and_candidates() -> None:
    edit = minimal_edit("x = f(a b)\n", 0, 11, "x = f(a, b)\n")
    assert edit == Edit(7, 7, ",")
    raw = "```python\ndef add(a, b):\n    return a + b\n```"
    candidates = fix_candidates(raw, "def add(a, b)\n    total = a + b\n", "")
    # The model's broken-line fix is kept even though it rewrote the next line.
    assert "def add(a, b):\n    total = a + b\n" in candidates


# --------------------------------------------------------------------------- the service


class FakeEngine:
    """Token ids are code points; answers are canned; requests are recorded."""

    def __init__(self, answers: list[str], fim: bool = True) -> None:
        self.answers = list(answers)
        self.requests: list[GenerationRequest] = []
        tokens = FimTokens("codellama", 1_000_001, 1_000_002, 1_000_003, spm_trained=False)
        self._spec = PromptSpec(fim if fim else None, None, False)  # type: ignore[arg-type]
        if fim:
            self._spec = PromptSpec(tokens, None, False)
        else:
            self._spec = PromptSpec(None, None, False)

    spec = property(lambda self: self._spec)
    stop_ids = property(lambda self: frozenset())
    n_ctx = property(lambda self: 100_000)
    description = property(lambda self: "fake")
    stats = property(lambda self: EngineStats())

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def detext(self, ids: list[int]) -> str:
        names = {1_000_001: "<PRE>", 1_000_002: "<SUF>", 1_000_003: "<MID>"}
        return "".join(names.get(i, chr(i)) if i < 0x110000 or i in names else "?" for i in ids)

    def submit(self, request: GenerationRequest) -> Future[GenerationResult]:
        self.requests.append(request)
        future: Future[GenerationResult] = Future()
        if request.cancel.is_set():
            future.set_exception(Cancelled())
            return future
        text = self.answers.pop(0) if self.answers else ""
        future.set_result(GenerationResult(text, [], len(request.ids), 0, 0.0, 0.0, "stop"))
        return future

    def close(self) -> None:
        pass


def test_docstring_prompts_infill_inside_the_slot() -> None:
    engine = FakeEngine(["Add two numbers\nignored", "the first", "the second", "their sum"])
    settings = Settings()
    settings.completion.fim_layout = "psm"
    service = ActionsService(engine, settings)  # type: ignore[arg-type]
    assert service.mode == "fim"
    text = "def add(a, b):\n    return a + b\n"
    slot = slot_named(text, "python", "add")
    result = service.docstring(text, "python", slot)
    prompt = engine.detext(engine.requests[0].ids)
    prefix, rest = prompt.split("<SUF>")
    suffix = rest.split("<MID>")[0]
    assert prefix.endswith('def add(a, b):\n    """')  # the prefix ends inside the docstring
    assert suffix.startswith("\n\n    Args:") and suffix.endswith('    """\n    return a + b\n')
    second = engine.detext(engine.requests[1].ids)
    assert second.split("<SUF>")[0].endswith('"""Add two numbers.\n\n    Args:\n        a: ')
    after = result.edit.apply(text)
    assert after == (
        'def add(a, b):\n    """Add two numbers.\n\n    Args:\n        a: the first\n'
        '        b: the second\n\n    Returns:\n        their sum\n    """\n    return a + b\n'
    )


def test_cancelled_docstring_raises() -> None:
    engine = FakeEngine(["x"])
    service = ActionsService(engine, Settings())  # type: ignore[arg-type]
    text = "def f():\n    pass\n"
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        service.docstring(text, "python", slot_named(text, "python", "f"), cancel=cancel)


def test_fix_with_a_fake_model_is_verified() -> None:
    broken = CLEAN.replace("def add(a, b):", "def add(a, b)")
    problem = syntax_problems(SourceText(broken, "python"))[0]
    good = ActionsService(FakeEngine(["def add(a, b):\n    total = a + b\n"]), Settings())  # type: ignore[arg-type]
    result = good.fix(broken, "python", problem.start, problem.end, problem.message)
    assert result.edit == Edit(broken.index(")\n") + 1, broken.index(")\n") + 1, ":")
    noisy = ActionsService(FakeEngine(["zq <unused1> ((\n"]), Settings())  # type: ignore[arg-type]
    rejected = noisy.fix(broken, "python", problem.start, problem.end, problem.message)
    assert rejected.edit is None and rejected.verdicts


def test_chat_mode_and_answer_tidying() -> None:
    chat = ChatFormat(
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
        {"<|im_start|>": 5, "<|im_end|>": 6},
    )
    ids = chat.encode(chat.render([{"role": "user", "content": "hi <b>"}]), lambda t: [0] * len(t))
    assert ids[0] == 5 and ids.count(5) == 2 and ids.count(6) == 1
    engine = FakeEngine(["The function `f` reads the file. More text."], fim=False)
    service = ActionsService(engine, Settings(), chat=chat)  # type: ignore[arg-type]
    assert service.mode == "chat"
    text = "def f(path):\n    return open(path).read()\n"
    result = service.docstring(text, "python", slot_named(text, "python", "f"), params=False)
    assert result.parts.summary == "Read the file."
    slot = slot_named(text, "python", "f")
    assert tidy_answer("The parameter `path` is the file to read.", slot, "param:path") == (
        "The file to read."
    )


def test_syntax_fixes_only_insert() -> None:
    broken = "def correlation(x, y /):\n    return x\n"
    src = SourceText(broken, "python")
    problem = syntax_problems(src)[0]
    region = fix_region(src, problem.start, problem.end)
    dropped = region.text(broken).replace("y /)", "y)")  # parses, but deletes code
    verdict = verify_fix(src, region, dropped, 0)
    assert not verdict.ok and "removes" in verdict.reason
    assert verify_fix(src, region, region.text(broken).replace("y /)", "y, /)"), 0).ok


def test_tidy_answer_styles() -> None:
    text = "def f(path):\n    return open(path).read()\n"
    slot = slot_named(text, "python", "f")
    used = "The `f` function is used to read a file."
    assert tidy_answer(used, slot, "summary") == "Read a file."
    go_text = "package p\n\nfunc Label(s string) string {\n\treturn s\n}\n"
    go = slot_named(go_text, "go", "Label")
    assert tidy_answer("This function builds a label.", go, "summary") == "Builds a label."
    lead = "The parameter `path` in the `f` function is the file name."
    assert tidy_answer(lead, slot, "param:path") == "The file name."


def test_an_ambiguous_insertion_is_not_offered() -> None:
    broken = "function f(line) {\n  if (line === 'x') return '; // keep\n  return line;\n}\n"
    src = SourceText(broken, "javascript")
    problem = syntax_problems(src)[0]
    region = fix_region(src, problem.start, problem.end)
    old = region.text(broken)
    # Closing the quote at the end parses, and so does closing it right away.
    guess = old.replace("'; // keep", "'; // keep';")
    verdict = verify_fix(src, region, guess, 1)
    assert not verdict.ok and verdict.reason.startswith("ambiguous")
