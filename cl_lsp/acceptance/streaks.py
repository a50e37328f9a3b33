"""Suggestions shown since the user last accepted one, per language: the signal behind
answering automatic requests less eagerly where the user never takes a suggestion.

Why the language and not the file: a file gets too few suggestions for a count to mean
anything, and the ones a user turns off in practice (Markdown, YAML, a language the model
does not know) are languages. Pure; the recorder feeds it."""

from __future__ import annotations

from collections.abc import Iterable


class Streaks:
    def __init__(self) -> None:
        self._since_accept: dict[str, int] = {}

    def shown(self, language: str) -> None:
        self._since_accept[language] = self._since_accept.get(language, 0) + 1

    def accepted(self, language: str) -> None:
        self._since_accept[language] = 0

    def streak(self, language: str) -> int:
        return self._since_accept.get(language, 0)

    def quiet(self, language: str, after: int) -> bool:
        """Whether `language` has had `after` suggestions (> 0) in a row with none accepted."""
        return after > 0 and self.streak(language) >= after

    def quiet_languages(self, after: int) -> list[tuple[str, int]]:
        """(language, streak) of every quiet language, longest streak first."""
        found = [(lang, n) for lang, n in self._since_accept.items() if after > 0 and n >= after]
        return sorted(found, key=lambda item: (-item[1], item[0]))

    @classmethod
    def replay(cls, history: Iterable[tuple[str, bool]]) -> Streaks:
        """Rebuild from (language, accepted) in the order the suggestions were shown."""
        streaks = cls()
        for language, accepted in history:
            if accepted:
                streaks.accepted(language)
            else:
                streaks.shown(language)
        return streaks
