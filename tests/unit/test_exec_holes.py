"""A small derandomized run of benchmarks/exec_holes.py: holes in tested standard-library
functions, filled by the server's own decide_shape + clean() with the truth (and the truth
plus each overshoot), judged by running the module's real unit tests."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.exec_holes import (
    KINDS,
    OVERSHOOTS,
    SuiteRunner,
    current_policy,
    cut_holes,
    load_modules,
    prepare,
    run_oracle,
    unrelated_defs,
)
from benchmarks.holes import Hole
from cl_lsp.config import CompletionSettings

MODULES = ["textwrap", "fnmatch", "colorsys"]  # design modules whose suites take < 0.2 s
for _name in MODULES:  # some distributions ship the interpreter's `test` package apart
    pytest.importorskip(f"test.test_{_name}")
MAX_LINES = CompletionSettings().max_lines


@pytest.fixture(scope="module")
def oracle() -> tuple[dict[str, Any], dict[str, list[Hole]], SuiteRunner]:
    runner = SuiteRunner()
    modules = load_modules(MODULES, runner)
    assert [m.name for m in modules] == MODULES
    holes = cut_holes(modules, per_kind=4, seed=0)
    prepare(holes)
    table = run_oracle(
        holes, [current_policy()], unrelated_defs(modules), runner, MAX_LINES, seed=0
    )
    return table["current"], holes, runner


def test_every_kind_has_holes(oracle: tuple[dict[str, Any], dict[str, list[Hole]], Any]) -> None:
    _, holes, _ = oracle
    assert {kind: len(items) for kind, items in holes.items()} == {kind: 4 for kind in KINDS}


def test_the_tests_judge_the_holes(
    oracle: tuple[dict[str, Any], dict[str, list[Hole]], SuiteRunner],
) -> None:
    """The suites pass with the truth and fail without it: the holes are tested code."""
    _, holes, runner = oracle
    block_holes = holes["block_in_scope"] + holes["block_dedent"]
    assert all(runner.passes(h.path, h.document) for h in block_holes)
    failing = [h for h in block_holes if not runner.passes(h.path, h.prefix + h.suffix)]
    assert len(failing) >= len(block_holes) // 2


def test_no_overshoot_or_wrong_in_any_condition(
    oracle: tuple[dict[str, Any], dict[str, list[Hole]], Any],
) -> None:
    table, _, _ = oracle
    for kind in KINDS:
        for over in OVERSHOOTS:
            cell = table[kind][over]
            assert cell["overshoot"] + cell["wrong"] == 0, (kind, over, cell["examples"])
            assert cell["passed"] >= cell["identical"]


def test_truths_within_the_line_cap_come_back_whole(
    oracle: tuple[dict[str, Any], dict[str, list[Hole]], Any],
) -> None:
    """Single lines, blocks inside their scope, blocks running through a dedent to the
    end of the function, and lines below a complete statement: identical when they fit
    the line cap (random spans may start or end mid-line: not asserted)."""
    _, holes, _ = oracle
    policy = current_policy()
    for kind in ("single_line", "block_in_scope", "block_dedent", "eol_continuation"):
        for hole in holes[kind]:
            if hole.truth.strip("\n").count("\n") >= MAX_LINES:
                continue
            assert hole.tree is not None
            _, text, replace = policy.fill(hole, hole.truth, MAX_LINES, hole.tree)
            assert hole.prefix + text + hole.suffix[replace:] == hole.document, (kind, hole.truth)
