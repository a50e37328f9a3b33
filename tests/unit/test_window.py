"""The prefix/suffix window keeps its edges stable while the user types."""

from hypothesis import given, settings
from hypothesis import strategies as st

from cl_lsp.core.window import fim_window


def make(lines: int) -> str:
    return "".join(f"line {i}\n" for i in range(lines))


def test_small_file_is_whole() -> None:
    text = make(10)
    offset = text.index("line 5")
    window = fim_window(text, offset)
    assert window.prefix + window.suffix == text


def test_window_edges_stay_put_while_typing_on_a_line() -> None:
    text = make(1000)
    offset = text.index("line 500\n") + len("line 500")
    first = fim_window(text, offset, max_prefix_lines=100, max_suffix_lines=40)
    typed = text[:offset] + "abc" + text[offset:]
    second = fim_window(typed, offset + 3, max_prefix_lines=100, max_suffix_lines=40)
    assert second.suffix == first.suffix
    assert second.prefix == first.prefix + "abc"


def test_window_edges_move_in_chunks() -> None:
    text = make(1000)
    starts = {
        fim_window(text, text.index(f"line {n}\n"), max_prefix_lines=100, chunk=32).prefix_start
        for n in range(500, 532)
    }
    assert len(starts) <= 2  # 32 lines of movement cross at most one chunk boundary


def test_character_caps_cut_at_line_boundaries() -> None:
    text = make(5000)
    offset = text.index("line 4000\n")
    window = fim_window(text, offset, max_prefix_lines=10_000, max_prefix_chars=500)
    assert len(window.prefix) <= 500
    assert window.prefix.startswith("line ")


def test_offset_is_clamped() -> None:
    window = fim_window("abc", 99)
    assert window.prefix == "abc" and window.suffix == ""


def test_enter_leaves_the_suffix_as_it_was() -> None:
    # Suffix-first prompts start with the suffix: if Enter changed it, every newline would
    # cost a prefill of the whole prompt (the typing replay showed exactly that).
    text = make(1000)
    offset = text.index("line 500\n") + len("line 500")
    first = fim_window(text, offset, max_suffix_lines=40)
    for typed in ("\n", "\n    x = 1\n", "\n" * 40):
        after = text[:offset] + typed + text[offset:]
        second = fim_window(after, offset + len(typed), max_suffix_lines=40)
        assert second.suffix == first.suffix, typed


def _reference(text: str, offset: int, before: int, after: int, chunk: int) -> tuple[int, int]:
    """Window edges from a full list of line starts (the simple, slow way)."""
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    line = text.count("\n", 0, offset)
    first = min(line, max(0, -(-(line - before) // chunk) * chunk))
    last = line + max(1, after)
    return starts[first], starts[last] if last < len(starts) else len(text)


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet="ab\n", max_size=200),
    where=st.floats(0, 1),
    before=st.integers(0, 12),
    after=st.integers(0, 12),
    chunk=st.integers(1, 5),
)
def test_edges_match_a_reference(
    text: str, where: float, before: int, after: int, chunk: int
) -> None:
    offset = int(where * len(text))
    window = fim_window(text, offset, max_prefix_lines=before, max_suffix_lines=after, chunk=chunk)
    assert (window.prefix_start, window.suffix_end) == _reference(
        text, offset, before, after, chunk
    )
