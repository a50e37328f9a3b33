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
    assert NgramDraft([5, 1, 2, 8, 0, 5, 1, 2]).lookup(2) == ([8, 0], ("prompt", 3))
    assert NgramDraft([1, 2, 3]).lookup(2) == ([], ("prompt", 0))


def test_policy_drafts_nothing_when_passes_cost_linearly() -> None:
    from cl_lsp.engine.draft import DraftPolicy

    policy = DraftPolicy(prior_accept=0.9)
    for k in range(1, 10):
        policy.record_pass(k, 0.02 * k)  # k tokens cost k single passes: no saving possible
    assert policy.length(8, ("prompt", 4)) == 0


def test_policy_drafts_long_when_passes_are_cheap_and_drafts_hold() -> None:
    from cl_lsp.engine.draft import DraftPolicy

    policy = DraftPolicy()
    for k in range(1, 10):
        policy.record_pass(k, 0.02 + 0.002 * (k - 1))  # memory-bound: extra tokens are cheap
    for _ in range(10):
        policy.record_draft(("prompt", 4), drafted=8, accepted=8)
    assert policy.acceptance(("prompt", 4)) > 0.85
    assert policy.length(8, ("prompt", 4)) == 8
    # Drafts from 2-token matches that always fail on the first token: acceptance falls to
    # the prior's weight (~0.17), where only one drafted token is still worth its 10%.
    for _ in range(20):
        policy.record_draft(("prompt", 2), drafted=4, accepted=0)
    assert policy.acceptance(("prompt", 2)) < 0.2
    assert policy.length(8, ("prompt", 2)) == 1


def test_a_recent_answer_is_drafted_from_where_the_prompt_ends() -> None:
    from cl_lsp.engine.draft import Answer

    # The last answer was generated after a prompt ending (7, 8): 20 21 22 23.
    last = Answer([5, 7, 8, 20, 21, 22, 23])
    draft = NgramDraft([1, 2, 3, 7, 8], history=[last])
    assert draft.lookup(3) == ([20, 21, 22], ("history", 2))
    # A longer match in the prompt wins over a shorter one in the history.
    draft = NgramDraft([6, 7, 8, 9, 0, 6, 7, 8], history=[last])
    assert draft.lookup(2) == ([9, 0], ("prompt", 3))


def test_an_answer_that_stopped_leaves_its_last_token_unevaluated() -> None:
    from cl_lsp.engine.draft import Answer

    complete = Answer([7, 8, 20, 21, 22], stopped_at_end=True)
    assert NgramDraft([7, 8], history=[complete]).propose(8) == [20, 21]
    cut_short = Answer([7, 8, 20, 21, 22])  # ran out of tokens: what follows is unknown
    assert NgramDraft([7, 8], history=[cut_short]).propose(8) == [20, 21, 22]


def test_sync_reindexes_only_after_the_common_prefix_and_ignores_stale_entries() -> None:
    draft = NgramDraft([1, 2, 3, 4, 1, 2])
    assert draft.propose(2) == [3, 4]
    # The sequence is cut before the earlier (1, 2, 3, 4) and goes on differently: the
    # index still remembers (1, 2) -> 3, which no longer holds.
    draft.sync([9, 9, 1, 2])
    assert draft.tokens == [9, 9, 1, 2]
    assert draft.propose(2) == []
    draft.sync([9, 9, 1, 2, 5, 1, 2])
    assert draft.propose(2) == [5, 1]


def test_policy_adds_a_draft_to_a_prefill_batch_when_its_marginal_cost_is_low() -> None:
    from cl_lsp.engine.draft import DraftPolicy

    policy = DraftPolicy(prior_history_accept=0.95)
    for k in range(1, 20):
        policy.record_pass(k, 0.03 + 0.015 * (k - 1))  # a CPU: extra tokens cost half a pass
    # Alone, a 4-token pass (0.075 s) for ~3.8 expected tokens beats four 0.03 s passes...
    assert policy.length(3, ("history", 6)) == 3
    # ... and added to a 5-token prefill batch, 8 drafted tokens save time too.
    assert policy.length(8, ("history", 6), base=5) == 8
    # Prompt matches whose drafts keep failing on their first token are not worth it,
    # while the history's acceptance is kept apart.
    for _ in range(20):
        policy.record_draft(("prompt", 2), drafted=4, accepted=0)
    assert policy.length(8, ("prompt", 2)) == 0
    assert policy.length(3, ("history", 2)) == 3


def test_the_index_stays_bounded_while_prompts_come_and_go() -> None:
    import random

    rng = random.Random(0)
    draft = NgramDraft()
    for _ in range(200):  # 200 unrelated 2k-token prompts: a long day of jumps
        draft.sync([rng.randrange(32000) for _ in range(2000)])
    assert draft.indexed <= 4 * 5 * 2000 + 5 * 2000
    # What is live is still found after a rebuild.
    tokens = [rng.randrange(32000) for _ in range(2000)]
    draft.sync(tokens + tokens[100:104])
    assert draft.propose(3) == tokens[104:107]
