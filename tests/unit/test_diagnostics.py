"""Syntax diagnostics: what is a problem, and when it is published."""

from __future__ import annotations

from cl_lsp.core.diagnostics import DiagnosticsPolicy, problems_of


def test_problems_of_broken_and_clean_code() -> None:
    assert problems_of("def f(x):\n    return x\n", "python") == []
    (problem,) = problems_of("x = [1, 2\n", "python")[:1]
    assert problem.start == 0 and problem.message.startswith("Syntax error")
    missing = problems_of("int f() { return 1 }\n", "c")
    assert any(p.missing == ";" and p.message == "Syntax error: missing ';'" for p in missing)
    assert problems_of("whatever (", None) == []
    assert problems_of("x = (" * 10, "no-such-language") == []


def test_policy_is_quiet_while_typing_in_a_file_that_never_parsed() -> None:
    broken = problems_of("def f(:\n", "python")
    draft = DiagnosticsPolicy()
    assert draft.opened("a", broken) is None  # opened broken: work in progress, quiet
    assert draft.changed("a", broken) is None  # still typing in it: quiet
    assert draft.saved("a", broken) == broken  # saved: shown
    assert draft.changed("a", broken) == broken  # shown already: positions follow edits
    assert draft.changed("a", []) == []  # fixed: cleared at once
    assert draft.changed("a", broken) == broken  # clean before, broken now: shown
    assert draft.closed("a") is True

    clean = DiagnosticsPolicy()
    assert clean.opened("b", []) == []
    assert clean.changed("b", broken) == broken  # the user broke a clean file
    assert clean.closed("b") is True

    unknown = DiagnosticsPolicy()
    assert unknown.changed("c", broken) is None
    assert unknown.changed("c", []) is None  # parses now, nothing shown to clear
    assert unknown.changed("c", broken) == broken  # ...but counts as clean from here
    assert unknown.closed("missing") is False
