"""Prompt-lookup drafting (the pure part of speculative decoding)."""

from __future__ import annotations

import pytest

from cl_lsp.engine.draft import NgramDraft


def test_proposes_what_followed_the_last_ngram_earlier() -> None:
    # "self . value = value" ... "self ." -> propose "value = value"
    draft = NgramDraft([7, 1, 2, 3, 4, 3, 9, 9, 1, 2])
    assert draft.propose(3) == [3, 4, 3]
    assert draft.propose(1) == [3]


def test_longest_match_wins_over_a_more_recent_shorter_one() -> None:
    # The 3-gram (5, 1, 2) occurred once, followed by 8; the 2-gram (1, 2) more recently,
    # followed by 6. The longer context is the better guess.
    draft = NgramDraft([5, 1, 2, 8, 0, 1, 2, 6, 0, 5, 1, 2])
    assert draft.propose(1) == [8]


def test_most_recent_occurrence_of_the_same_length_wins() -> None:
    draft = NgramDraft([1, 2, 3, 0, 1, 2, 4, 0, 1, 2], max_n=2)
    assert draft.propose(1) == [4]


def test_no_match_and_no_self_match() -> None:
    assert NgramDraft([1, 2, 3, 4]).propose(4) == []
    assert NgramDraft([]).propose(4) == []
    assert NgramDraft([1, 2], min_n=2).propose(4) == []  # the ending must not find itself
    assert NgramDraft([1, 2, 3]).propose(0) == []


def test_min_n_bounds_the_match_length() -> None:
    tokens = [4, 1, 5, 6, 1]  # only a 1-gram (1) recurs
    assert NgramDraft(tokens, min_n=1).propose(2) == [5, 6]
    assert NgramDraft(tokens, min_n=2).propose(2) == []


def test_appending_keeps_the_index_current() -> None:
    draft = NgramDraft([1, 2, 3], min_n=2)
    assert draft.propose(2) == []
    for token in (9, 1, 2):
        draft.append(token)
    assert draft.tokens == [1, 2, 3, 9, 1, 2]
    assert draft.propose(2) == [3, 9]
    draft.append(3)  # the guess was right; the next guess continues the copy
    assert draft.propose(2) == [9, 1]


def test_a_repeating_tail_proposes_its_own_continuation() -> None:
    draft = NgramDraft([0, 1, 2, 1, 2])
    assert draft.propose(4) == [1, 2]  # what followed (1, 2) at position 1..2


def test_bad_bounds_are_rejected() -> None:
    with pytest.raises(ValueError):
        NgramDraft([], min_n=0)
    with pytest.raises(ValueError):
        NgramDraft([], min_n=3, max_n=2)


def test_lookup_reports_the_matched_length() -> None:
    assert NgramDraft([5, 1, 2, 8, 0, 5, 1, 2]).lookup(2) == ([8, 0], 3)
    assert NgramDraft([1, 2, 3]).lookup(2) == ([], 0)


def test_policy_drafts_nothing_when_passes_cost_linearly() -> None:
    from cl_lsp.engine.draft import DraftPolicy

    policy = DraftPolicy(prior_accept=0.9)
    for k in range(1, 10):
        policy.record_pass(k, 0.02 * k)  # k tokens cost k single passes: no saving possible
    assert policy.length(8, 4) == 0


def test_policy_drafts_long_when_passes_are_cheap_and_drafts_hold() -> None:
    from cl_lsp.engine.draft import DraftPolicy

    policy = DraftPolicy()
    for k in range(1, 10):
        policy.record_pass(k, 0.02 + 0.002 * (k - 1))  # memory-bound: extra tokens are cheap
    for _ in range(10):
        policy.record_draft(4, drafted=8, accepted=8)
    assert policy.acceptance(4) > 0.85
    assert policy.length(8, 4) == 8
    # Drafts from 2-token matches that always fail on the first token are not worth it.
    for _ in range(20):
        policy.record_draft(2, drafted=4, accepted=0)
    assert policy.length(8, 2) == 0
