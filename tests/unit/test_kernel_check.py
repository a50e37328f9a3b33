"""The doctor's kernel check: batched against one-token passes, row by row."""

from __future__ import annotations

from pathlib import Path

import pytest

from cl_lsp.config import ModelSettings
from cl_lsp.doctor import SAMPLE
from cl_lsp.engine.kernel_check import batch_logit_difference


def test_a_batch_of_one_is_the_same_pass(tiny_model: Path) -> None:
    settings = ModelSettings(path=str(tiny_model))
    assert batch_logit_difference(tiny_model, settings, SAMPLE, batch=1) == 0.0


def test_batched_rows_line_up_with_one_token_passes(smollm: Path) -> None:
    """Whatever the kernels, each batched row must be compared with the same position
    alone: kernel noise is a fraction of a logit, another position's logits differ by
    several (SmolLM2 Q4_1: up to ~0.5 with tinyBLAS, 0.0 without it)."""
    settings = ModelSettings(path=str(smollm))
    difference = batch_logit_difference(smollm, settings, SAMPLE, batch=4)
    assert 0.0 <= difference < 2.0


def test_text_too_short_for_the_batch(tiny_model: Path) -> None:
    with pytest.raises(ValueError, match="more than 4 tokens"):
        batch_logit_difference(tiny_model, ModelSettings(path=str(tiny_model)), "x", batch=4)
