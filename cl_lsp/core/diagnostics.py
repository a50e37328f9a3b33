"""cl-lsp's own syntax diagnostics: tree-sitter ERROR/MISSING nodes, published politely.

The policy (pure; the handler adds the debounce timer):
- on save the file's problems are published, whatever they are;
- on open only a clean file is published (an empty list): a file opened broken is
  somebody's work in progress until it is saved;
- while typing (debounced didChange) problems are published only for a file that parsed
  cleanly at its last open/save or at a later check, i.e. the user just broke a clean
  file, or when problems are already shown since a save (their positions move);
- a file that becomes clean has its problems cleared at once and counts as clean again.
A half-written file that never parsed is never reported while the user types in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter as ts

from .languages import spec_by_name
from .syntax_tree import SourceText, SyntaxProblem, syntax_problems

MAX_CHARS = 2_000_000  # larger files are not parsed for diagnostics


def problems_of(
    text: str, language: str | None, limit: int = 50, tree: ts.Tree | None = None
) -> list[SyntaxProblem]:
    """The syntax problems of a text; none for unknown languages or huge files. `tree`,
    when given, is a parse of exactly `text` (an open document's incremental tree)."""
    if language is None or spec_by_name(language) is None or len(text) > MAX_CHARS:
        return []
    return syntax_problems(SourceText(text, language, tree), limit)


@dataclass
class _State:
    baseline_clean: bool = False
    shown: bool = False  # non-empty diagnostics are out


class DiagnosticsPolicy:
    """Decides, per document event, whether to publish (a list) or keep quiet (None)."""

    def __init__(self) -> None:
        self._files: dict[str, _State] = {}

    def _state(self, uri: str) -> _State:
        return self._files.setdefault(uri, _State())

    def _publish(self, state: _State, problems: list[SyntaxProblem]) -> list[SyntaxProblem]:
        state.shown = bool(problems)
        if not problems:
            state.baseline_clean = True
        return problems

    def opened(self, uri: str, problems: list[SyntaxProblem]) -> list[SyntaxProblem] | None:
        state = self._state(uri)
        state.baseline_clean = not problems
        return self._publish(state, problems) if not problems else None

    def saved(self, uri: str, problems: list[SyntaxProblem]) -> list[SyntaxProblem]:
        state = self._state(uri)
        state.baseline_clean = not problems
        return self._publish(state, problems)

    def changed(self, uri: str, problems: list[SyntaxProblem]) -> list[SyntaxProblem] | None:
        state = self._state(uri)
        if not problems:
            if state.shown:
                return self._publish(state, problems)
            state.baseline_clean = True
            return None  # nothing shown, nothing to clear
        if state.baseline_clean or state.shown:
            return self._publish(state, problems)
        return None  # never parsed cleanly: the user is still writing it

    def closed(self, uri: str) -> bool:
        """Forget the file; True when its diagnostics must be cleared."""
        state = self._files.pop(uri, None)
        return bool(state and state.shown)
