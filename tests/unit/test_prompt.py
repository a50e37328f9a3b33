"""FIM layouts as token ids, with a toy SentencePiece-like encoder."""

from cl_lsp.core.prompt import (
    FimTokens,
    Layout,
    PromptSpec,
    build_prompt,
    choose_layout,
    common_prefix_length,
    encode_infill,
    fit_prompt,
)

BOS, PRE, SUF, MID = 1, 32007, 32008, 32009
CODELLAMA = PromptSpec(FimTokens("codellama", PRE, SUF, MID, spm_trained=True), BOS, True)
QWEN = PromptSpec(FimTokens("qwen", 10, 11, 12), None, False)


def spm_encode(text: str) -> list[int]:
    """Characters as ids, with SentencePiece's dummy space prepended (id of " ")."""
    return [ord(c) for c in " " + text]


def bpe_encode(text: str) -> list[int]:
    return [ord(c) for c in text]


def ids(text: str) -> list[int]:
    return [ord(c) for c in text]


def test_encode_infill_drops_the_dummy_space() -> None:
    assert encode_infill(spm_encode, "x = 1", True) == ids("x = 1")
    assert encode_infill(bpe_encode, "x = 1", False) == ids("x = 1")
    assert encode_infill(spm_encode, "", True) == []


def test_codellama_psm_layout() -> None:
    prompt = build_prompt(CODELLAMA, spm_encode, "def f(", "):\n", Layout.PSM)
    assert prompt.ids == [BOS, PRE] + ids(" def f(") + [SUF] + ids("):\n") + [MID]
    assert prompt.layout is Layout.PSM


def test_codellama_spm_layout_puts_the_suffix_first() -> None:
    prompt = build_prompt(CODELLAMA, spm_encode, "def f(", "):\n", Layout.SPM)
    assert prompt.ids == [BOS, PRE, SUF] + ids("):\n") + [MID] + ids(" def f(")
    assert prompt.ids[: prompt.stable_head] == [BOS, PRE, SUF] + ids("):\n") + [MID]


def test_spm_prompt_grows_only_at_the_end_while_typing() -> None:
    first = build_prompt(CODELLAMA, spm_encode, "x = fo", "\nprint(x)\n", Layout.SPM)
    second = build_prompt(CODELLAMA, spm_encode, "x = foo", "\nprint(x)\n", Layout.SPM)
    assert common_prefix_length(first.ids, second.ids) == len(first.ids)


def test_special_token_text_in_source_stays_text() -> None:
    prompt = build_prompt(CODELLAMA, spm_encode, "s = '<PRE>'", "", Layout.PSM)
    assert prompt.ids.count(PRE) == 1


def test_prefix_only_for_models_without_infilling() -> None:
    spec = PromptSpec(None, None, False)
    prompt = build_prompt(spec, bpe_encode, "abc", "ignored", Layout.SPM)
    assert prompt.ids == ids("abc") and prompt.layout is Layout.PREFIX
    assert choose_layout(spec, "spm") is Layout.PREFIX


def test_layout_choice_follows_training() -> None:
    assert choose_layout(CODELLAMA) is Layout.SPM
    assert choose_layout(CODELLAMA, "psm") is Layout.PSM
    assert choose_layout(QWEN) is Layout.PSM  # Qwen was trained PSM only
    assert choose_layout(QWEN, "spm") is Layout.SPM  # an explicit request is honoured


def test_common_prefix_length() -> None:
    assert common_prefix_length([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([1, 2], [1, 2]) == 2


def test_fit_prompt_drops_context_then_halves_the_far_ends() -> None:
    head, prefix, suffix = "# ctx\n" * 10, "p" * 40, "s" * 40

    def fit(limit: int, min_prefix: int = 0) -> str:
        prompt = fit_prompt(
            CODELLAMA, bpe_encode, head, prefix, suffix, Layout.PSM, limit, min_prefix
        )
        return "".join(chr(i) for i in prompt.ids if i < 0x110000 and i not in (BOS, PRE, SUF, MID))

    assert fit(1000) == head + prefix + suffix  # fits: nothing cut
    assert fit(84) == prefix + suffix  # the context goes first
    assert fit(64) == prefix + "s" * 20  # then the suffix's far half...
    assert fit(44) == "p" * 20 + "s" * 20  # ...and the prefix's far half
    assert len(fit(5, min_prefix=16)) >= 10  # gives up at the prefix floor, over the limit
