"""Prompt-lookup drafts: guess the next tokens by finding the last few tokens earlier on.

Code completion copies: a name, a call pattern, a whole line from the prefix, the suffix
or the repository context. When the last n tokens (prompt + generated so far) occurred
before, the tokens that followed them then are a cheap guess at what follows now. The
engine verifies a guess in one batched forward pass and keeps only what greedy decoding
would have produced anyway, so a wrong guess costs time, never output.
"""

from __future__ import annotations

from collections.abc import Iterable


class NgramDraft:
    """An index from n-grams (min_n..max_n tokens) to where they last ended.

    Appending is O(max_n) and proposing O(max_n) dict look-ups, so drafting costs
    microseconds a token even with a prompt of thousands of tokens.
    """

    def __init__(self, tokens: Iterable[int], *, min_n: int = 2, max_n: int = 4) -> None:
        if not 1 <= min_n <= max_n:
            raise ValueError(f"need 1 <= min_n <= max_n, got {min_n}, {max_n}")
        self._min_n = min_n
        self._max_n = max_n
        self._tokens: list[int] = []
        # n-gram -> the index of its last token, for n-grams ending before the last token
        # (the last one is what we look up: it must not find itself).
        self._last_end: dict[tuple[int, ...], int] = {}
        for token in tokens:
            self.append(token)

    @property
    def tokens(self) -> list[int]:
        return self._tokens

    def append(self, token: int) -> None:
        # The n-grams ending at the token that was last until now become searchable.
        end = len(self._tokens) - 1
        if end >= 0:
            for n in range(self._min_n, min(self._max_n, end + 1) + 1):
                self._last_end[tuple(self._tokens[end - n + 1 : end + 1])] = end
        self._tokens.append(token)

    def propose(self, limit: int) -> list[int]:
        """Up to `limit` tokens that followed the longest earlier match of the current
        ending (the most recent occurrence of that length); [] when nothing matches."""
        return self.lookup(limit)[0]

    def lookup(self, limit: int) -> tuple[list[int], int]:
        """`propose`, and the length of the n-gram that matched (0: none)."""
        tokens = self._tokens
        if limit <= 0:
            return [], 0
        for n in range(min(self._max_n, len(tokens)), self._min_n - 1, -1):
            end = self._last_end.get(tuple(tokens[len(tokens) - n :]))
            if end is not None:
                return tokens[end + 1 : end + 1 + limit], n
        return [], 0


class DraftPolicy:
    """How many drafted tokens to verify, from what passes cost and how often drafts hold.

    On a CPU a forward pass over k tokens is not free: measured here (SmolLM2-135M Q4_1,
    one thread) 9 tokens cost 4-6x one token. Verifying d drafted tokens pays when the
    expected tokens a pass yields, 1 + p + ... + p^d for a per-token acceptance p, grow
    faster than the pass's cost; otherwise one token at a time is cheaper. Both are
    running averages of what this machine and this model actually did; acceptance is kept
    per matched n-gram length (a 4-token match is a better guess than a 2-token one).
    """

    def __init__(self, *, prior_accept: float = 0.6, prior_slope: float = 0.5) -> None:
        self._prior_accept = prior_accept
        self._accept: dict[int, float] = {}  # matched n-gram length -> acceptance
        # cost(k) / cost(1) before a k-token pass was measured: 1 + slope * (k - 1).
        self._prior_slope = prior_slope
        self._pass_s: dict[int, float] = {}  # tokens in a pass -> seconds (moving average)

    def acceptance(self, n: int) -> float:
        return self._accept.get(n, self._prior_accept)

    def record_pass(self, tokens: int, seconds: float) -> None:
        old = self._pass_s.get(tokens)
        self._pass_s[tokens] = seconds if old is None else 0.8 * old + 0.2 * seconds

    def record_draft(self, n: int, drafted: int, accepted: int) -> None:
        """A verified draft from an n-gram match: `accepted` of its first tokens held (the
        rest were not tried one by one: the first miss ends it)."""
        tried = accepted + (1 if accepted < drafted else 0)
        if tried:
            self._accept[n] = 0.8 * self.acceptance(n) + 0.2 * (accepted / tried)

    def cost(self, tokens: int) -> float:
        """The expected seconds of a pass over `tokens` (relative when nothing is known)."""
        if tokens in self._pass_s:
            return self._pass_s[tokens]
        single = self._pass_s.get(1, 1.0)
        return single * (1 + self._prior_slope * (tokens - 1))

    def length(self, available: int, n: int) -> int:
        """The draft length (0..available) with the most expected tokens per second for
        a match of n tokens."""
        accept = self.acceptance(n)
        best, best_rate = 0, 1 / self.cost(1)
        expected, term = 1.0, 1.0
        for d in range(1, available + 1):
            term *= accept
            expected += term
            rate = expected / self.cost(d + 1)
            if rate > best_rate:
                best, best_rate = d, rate
        if best == 0 and available:
            # Not drafting teaches nothing: drift back toward the prior so that a model
            # or a file that starts to copy gets tried again.
            self._accept[n] = 0.95 * accept + 0.05 * self._prior_accept
        return best
