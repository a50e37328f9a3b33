"""Prompt-lookup drafts: guess the next tokens by finding the last few tokens earlier on.

Code completion copies: a name, a call pattern, a whole line from the prefix, the suffix
or the repository context. And an editor asks again and again at nearly the same place:
each keystroke's request mostly regenerates what the previous one generated (typing
inside a word leaves a healed prompt unchanged; a typo and its backspace return to an
earlier prompt). When the last n tokens (prompt + generated so far) occurred before, in
the prompt or in a recent generation, the tokens that followed them then are a cheap
guess at what follows now. The engine verifies a guess in one batched forward pass and
keeps only what greedy decoding would have produced anyway, so a wrong guess costs time,
never output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cl_lsp.core.prompt import common_prefix_length

# Where a draft came from: the model's own recent generations, or this prompt.
Source = Literal["history", "prompt"]
DraftKey = tuple[Source, int]  # (source, matched n-gram length)


@dataclass(frozen=True)
class Answer:
    """A recent generation: the prompt's last few tokens, then the tokens generated.
    `stopped_at_end`: generation stopped right after choosing the last token (the text
    was complete), so a draft that reaches the end leaves that token unevaluated: it is
    checked against the choice all the same, and no pass is spent on what follows it."""

    tokens: Sequence[int]
    stopped_at_end: bool = False


class NgramDraft:
    """An index from n-grams (min_n..max_n tokens) to where they last ended, over the
    running sequence (prompt + generated) and, separately, over recent generations.

    Appending is O(max_n) and proposing O(max_n) dict look-ups. The engine keeps one for
    its whole life and `sync`s it to each prompt: only the tokens after the common prefix
    are indexed again (indexing a 3k-token prompt from scratch takes ~15 ms of Python,
    half a forward pass of a small model). Truncating leaves stale entries behind; a
    look-up checks its hit against the sequence and ignores what no longer holds.
    """

    def __init__(
        self,
        tokens: Iterable[int] = (),
        *,
        history: Iterable[Answer] = (),
        min_n: int = 2,
        max_n: int = 6,
    ) -> None:
        if not 1 <= min_n <= max_n:
            raise ValueError(f"need 1 <= min_n <= max_n, got {min_n}, {max_n}")
        self._min_n = min_n
        self._max_n = max_n
        self._tokens: list[int] = []
        # n-gram -> the index of its last token, for n-grams ending before the last token
        # (the last one is what we look up: it must not find itself).
        self._last_end: dict[tuple[int, ...], int] = {}
        # n-gram -> (a recent generation, the index of the n-gram's last token in it).
        self._history: dict[tuple[int, ...], tuple[Answer, int]] = {}
        self.set_history(history)
        for token in tokens:
            self.append(token)

    @property
    def tokens(self) -> list[int]:
        return self._tokens

    def set_history(self, history: Iterable[Answer]) -> None:
        """Recent generations to draft from, oldest first (the newest occurrence wins)."""
        self._history = {}
        lo, hi = self._min_n, self._max_n
        for answer in history:
            sequence = answer.tokens
            for end in range(len(sequence) - 1):  # an n-gram at the very end proposes nothing
                for n in range(lo, min(hi, end + 1) + 1):
                    self._history[tuple(sequence[end - n + 1 : end + 1])] = (answer, end)

    def append(self, token: int) -> None:
        # The n-grams ending at the token that was last until now become searchable.
        end = len(self._tokens) - 1
        if end >= 0:
            for n in range(self._min_n, min(self._max_n, end + 1) + 1):
                self._last_end[tuple(self._tokens[end - n + 1 : end + 1])] = end
        self._tokens.append(token)

    def truncate(self, n: int) -> None:
        """Forget the tokens from position n on (their index entries go stale)."""
        del self._tokens[n:]

    def sync(self, tokens: Sequence[int]) -> None:
        """Make the sequence `tokens`, indexing only what follows the common prefix."""
        common = common_prefix_length(self._tokens, tokens)
        # Stale entries pile up as prompts come and go (other files, far jumps): once
        # they outnumber the live ones several times over, index afresh (~15 ms / 3k).
        live = (self._max_n - self._min_n + 1) * max(len(tokens), 1024)
        if len(self._last_end) > 4 * live:
            self._last_end = {}
            common = 0
        self.truncate(common)
        for token in tokens[common:]:
            self.append(token)

    @property
    def indexed(self) -> int:
        """How many n-grams the index holds (live and stale)."""
        return len(self._last_end)

    def propose(self, limit: int) -> list[int]:
        """Up to `limit` tokens that followed the longest earlier match of the current
        ending (the most recent occurrence of that length); [] when nothing matches."""
        return self.lookup(limit)[0]

    def lookup(self, limit: int) -> tuple[list[int], DraftKey]:
        """`propose`, and where it came from with the matched length (0: none): the
        longest match wins; at equal length a recent generation is preferred (what the
        model itself said last time)."""
        tokens = self._tokens
        if limit <= 0:
            return [], ("prompt", 0)
        size = len(tokens)
        for n in range(min(self._max_n, size), self._min_n - 1, -1):
            ending = tuple(tokens[size - n :])
            found = self._history.get(ending)
            if found is not None:
                answer, end = found
                stop = end + 1 + limit
                if answer.stopped_at_end and stop >= len(answer.tokens):
                    stop = len(answer.tokens) - 1  # the last token needs no pass (Answer)
                return list(answer.tokens[end + 1 : stop]), ("history", n)
            last = self._last_end.get(ending)
            # After a truncation the entry may point past the end or at other tokens.
            if (
                last is not None
                and last < size - 1
                and tuple(tokens[last - n + 1 : last + 1]) == ending
            ):
                return tokens[last + 1 : last + 1 + limit], ("prompt", n)
        return [], ("prompt", 0)


class DraftPolicy:
    """How many drafted tokens to verify, from what passes cost and how often drafts hold.

    On a CPU a forward pass over k tokens is not free: measured here (SmolLM2-135M Q4_1,
    one thread, 1k tokens of context) 2 tokens cost 1.6x one token, 9 tokens 5.2x, 17
    tokens 9.3x: about 1 + 0.52 (k - 1). Verifying d drafted tokens pays when the
    expected tokens a pass yields, 1 + p + ... + p^d for a per-token acceptance p, grow
    faster than the pass's cost; otherwise one token at a time is cheaper.

    Both are estimated from what this machine and this model actually did, smoothed so
    that one slow pass or one failed draft does not switch drafting off: the cost as a
    line through the measured pass sizes (one slope, fitted to every size seen), the
    acceptance as accepted / tried tokens pooled over recent drafts per source and
    matched n-gram length (a 16-token draft that held and one that failed at once are
    16 of 17 tokens, not an average of 1.0 and 0.0).
    """

    _DECAY = 0.9  # weight of the past at each new draft of a kind
    _PRIOR_TOKENS = 4.0  # how many tokens' worth of evidence the prior is

    def __init__(
        self,
        *,
        prior_accept: float = 0.6,
        prior_history_accept: float = 0.9,
        prior_slope: float = 0.5,
    ) -> None:
        self._priors: dict[Source, float] = {
            "prompt": prior_accept,
            "history": prior_history_accept,
        }
        self._counts: dict[DraftKey, tuple[float, float]] = {}  # key -> (accepted, tried)
        self._prior_slope = prior_slope
        self._pass_s: dict[int, float] = {}  # tokens in a pass -> seconds (moving average)
        self._slope: float | None = None  # fitted: cost(k) = cost(1) * (1 + slope (k - 1))

    def acceptance(self, key: DraftKey) -> float:
        accepted, tried = self._counts.get(key, (0.0, 0.0))
        prior = self._priors[key[0]]
        return (accepted + prior * self._PRIOR_TOKENS) / (tried + self._PRIOR_TOKENS)

    def record_pass(self, tokens: int, seconds: float) -> None:
        old = self._pass_s.get(tokens)
        self._pass_s[tokens] = seconds if old is None else 0.8 * old + 0.2 * seconds
        self._slope = None

    def record_draft(self, key: DraftKey, drafted: int, accepted: int) -> None:
        """A verified draft: `accepted` of its first tokens held (the rest were not tried
        one by one: the first miss ends it)."""
        tried = accepted + (1 if accepted < drafted else 0)
        if tried:
            old_accepted, old_tried = self._counts.get(key, (0.0, 0.0))
            decay = self._DECAY
            self._counts[key] = (decay * old_accepted + accepted, decay * old_tried + tried)

    def _fitted_slope(self) -> float:
        single = self._pass_s.get(1)
        if single is None or single <= 0:
            return self._prior_slope
        if self._slope is None:
            # Least squares through (k - 1, cost(k) / cost(1) - 1), anchored at the origin.
            xx = xy = 0.0
            for k, seconds in self._pass_s.items():
                if k > 1:
                    xx += (k - 1) ** 2
                    xy += (k - 1) * (seconds / single - 1)
            self._slope = max(0.0, xy / xx) if xx else self._prior_slope
        return self._slope

    def cost(self, tokens: int) -> float:
        """The expected seconds of a pass over `tokens` (relative when nothing is known)."""
        single = self._pass_s.get(1, 1.0)
        return single * (1 + self._fitted_slope() * (tokens - 1))

    def length(self, available: int, key: DraftKey, base: int = 1) -> int:
        """The draft length (0..available) to add to a pass over `base` tokens that must
        be evaluated anyway (1 while generating; the prompt's last batch at the start).

        While generating (base 1): the length with the most expected tokens per second.
        Added to a prefill batch: the length that saves the most expected seconds against
        choosing those tokens one pass each."""
        accept = self.acceptance(key)
        single = self.cost(1)
        anyway = self.cost(base)
        best, best_value = 0, 1 / anyway if base == 1 else 0.0
        expected, term = 1.0, 1.0
        for d in range(1, available + 1):
            term *= accept
            expected += term
            if base == 1:
                value = expected / self.cost(d + 1)
            else:
                value = (expected - 1) * single - (self.cost(base + d) - anyway)
            if value > best_value:
                best, best_value = d, value
        if best == 0 and available and key in self._counts:
            # Not drafting teaches nothing: let the evidence fade toward the prior so that
            # a model or a file that starts to copy gets tried again.
            accepted, tried = self._counts[key]
            self._counts[key] = (0.95 * accepted, 0.95 * tried)
        return best
