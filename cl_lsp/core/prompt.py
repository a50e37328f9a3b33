"""Fill-in-the-middle prompts as token-id sequences, one layout per model family.

Special tokens are always inserted as ids, never as text: a source file that happens to
contain "<PRE>" or "<fim_prefix>" must be encoded as the ordinary text it is.

Code Llama (from the reference implementation):
  PSM  [BOS, <PRE>] + enc(prefix) + [<SUF>] + enc_infill(suffix) + [<MID>]
  SPM  [BOS, <PRE>, <SUF>] + enc_infill(suffix) + [<MID>] + enc(prefix)
where enc_infill drops the leading space SentencePiece adds to a segment. Other families
use the same shapes with their own tokens (StarCoder <fim_prefix>..., Qwen2.5-Coder and
CodeGemma <|fim_prefix|>..., DeepSeek-Coder <｜fim▁begin｜>...).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Encode = Callable[[str], list[int]]
"""Text -> token ids with the model's tokenizer: no BOS, special-token text not parsed."""


class Layout(str, enum.Enum):
    PSM = "psm"  # prefix, suffix, middle
    SPM = "spm"  # suffix first: typing at the cursor only appends tokens (KV reuse)
    PREFIX = "prefix"  # models without infilling: the prefix alone


@dataclass(frozen=True)
class FimTokens:
    """The infilling tokens of one model."""

    family: str
    prefix: int
    suffix: int
    middle: int
    # Trained with suffix-first prompts too (Code Llama 7B/13B, StarCoder); others are PSM only.
    spm_trained: bool = False


@dataclass(frozen=True)
class PromptSpec:
    """What a prompt builder needs to know about the model."""

    fim: FimTokens | None
    bos: int | None  # prepended when the model's tokenizer adds BOS
    sentencepiece_space: bool  # the tokenizer adds a dummy space in front of a segment


@dataclass(frozen=True)
class Prompt:
    ids: list[int]
    layout: Layout
    # How many leading ids do not depend on the text before the cursor; in SPM these stay
    # identical while the user types, which is what makes KV-cache reuse work.
    stable_head: int


def choose_layout(spec: PromptSpec, requested: str = "auto") -> Layout:
    """The layout to use: the request when the model supports it, else the best it does."""
    if spec.fim is None:
        return Layout.PREFIX
    if requested == Layout.PSM.value:
        return Layout.PSM
    if requested == Layout.SPM.value or (requested == "auto" and spec.fim.spm_trained):
        return Layout.SPM
    return Layout.PSM


def encode_infill(encode: Encode, text: str, sentencepiece_space: bool) -> list[int]:
    """Encode a segment that continues earlier text: no leading dummy space.

    SentencePiece tokenizers prepend "▁" to every call. The reference implementation
    encodes a marker plus the text and drops the marker's tokens; we do the same with a
    newline, which never merges with what follows in SentencePiece vocabularies.
    """
    if not text:
        return []
    if not sentencepiece_space:
        return encode(text)
    marker = encode("\n")
    ids = encode("\n" + text)
    if ids[: len(marker)] == marker:
        return ids[len(marker) :]
    return encode(text)  # the marker merged with the text: fall back to a plain encoding


def build_prompt(
    spec: PromptSpec,
    encode: Encode,
    prefix: str,
    suffix: str,
    layout: Layout,
) -> Prompt:
    """The token ids for a completion at the boundary between `prefix` and `suffix`."""
    head: list[int] = [spec.bos] if spec.bos is not None else []
    if layout is Layout.PREFIX or spec.fim is None:
        ids = head + encode(prefix)
        return Prompt(ids, Layout.PREFIX, len(head))
    fim = spec.fim
    suffix_ids = encode_infill(encode, suffix, spec.sentencepiece_space)
    if layout is Layout.SPM:
        stable = head + [fim.prefix, fim.suffix] + suffix_ids + [fim.middle]
        return Prompt(stable + encode(prefix), Layout.SPM, len(stable))
    ids = head + [fim.prefix] + encode(prefix) + [fim.suffix] + suffix_ids + [fim.middle]
    return Prompt(ids, Layout.PSM, len(head) + 1)


# Tokens kept free at the end of the context window (llama.cpp needs a little headroom).
CONTEXT_MARGIN = 8


def fit_prompt(
    spec: PromptSpec,
    encode: Encode,
    head: str,
    prefix: str,
    suffix: str,
    layout: Layout,
    limit: int,
    min_prefix_chars: int = 0,
) -> Prompt:
    """The prompt for `head + prefix` and `suffix` cut to at most `limit` ids: first the
    head (repository context) goes, then the far half of the suffix or of the prefix,
    until it fits or the prefix is down to `min_prefix_chars`."""
    while True:
        prompt = build_prompt(spec, encode, head + prefix, suffix, layout)
        if len(prompt.ids) <= limit:
            return prompt
        if head:
            head = ""
        elif layout is not Layout.PREFIX and suffix and len(suffix) > len(prefix) // 2:
            suffix = suffix[: len(suffix) // 2]
        elif len(prefix) > min_prefix_chars:
            prefix = prefix[len(prefix) // 2 :]
        else:
            return prompt  # nothing left to cut: the engine reports the overflow


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix: the part of a prompt the KV cache can keep."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
