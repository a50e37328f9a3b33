"""What code actions make of a model's reply: when to stop generating, and how a chat
answer becomes a line of documentation. Pure text functions (no model, no LSP).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .doc_slots import DocSlot


def stop_at_newline() -> Callable[[str], bool]:
    seen: list[str] = []

    def feed(piece: str) -> bool:
        seen.append(piece)
        return "\n" in piece or any(d in "".join(seen[-4:]) for d in ('"""', "*/", "</"))

    return feed


def stop_at_line_after_text() -> Callable[[str], bool]:
    text: list[str] = []

    def feed(piece: str) -> bool:
        text.append(piece)
        joined = "".join(text)
        return "\n" in joined.strip() and bool(joined.strip())

    return feed


def stop_after_lines(lines: int) -> Callable[[str], bool]:
    count = [0]

    def feed(piece: str) -> bool:
        count[0] += piece.count("\n")
        return count[0] >= lines

    return feed


def stop_after_fence(lines: int) -> Callable[[str], bool]:
    text: list[str] = []

    def feed(piece: str) -> bool:
        text.append(piece)
        joined = "".join(text)
        return joined.count("```") >= 2 or joined.count("\n") > lines + 2

    return feed


_LEAD = re.compile(r"^(?:summary|description|docstring|answer|returns?|parameter)\s*[:\-]\s*", re.I)


def first_sentence_line(text: str) -> str:
    """A chat reply reduced to one line of prose."""
    for line in text.replace("```", "\n").split("\n"):
        line = line.strip().strip("`\"'*").strip()
        line = _LEAD.sub("", line)
        if line and not line.startswith(("def ", "function ", "class ", "#")):
            return line
    return ""


_ARTICLE = r"(?:the|this|a|an)\s+"
_NAME = r"`?[\w.$:]+`?"
_QUOTED = r"`[^`]+`"


def _imperative(verb: str) -> str:
    lower = verb.lower()
    if lower.endswith("ies") and len(lower) > 4:
        return verb[:-3] + "y"
    if lower.endswith(("sses", "shes", "ches", "xes", "zes")):
        return verb[:-2]
    if lower.endswith("s") and not lower.endswith("ss"):
        return verb[:-1]
    return verb


def tidy_answer(text: str, slot: DocSlot, piece: str) -> str:
    """Chat answers talk about the code ("The function `f` reads..."); a docstring says
    what it does ("Read..."). Keeps the first sentence."""
    text = text.strip()
    sentence = re.split(r"(?<=[.!?])\s+", text, maxsplit=1)[0]
    if piece == "summary":
        subject = (
            rf"^(?:{_ARTICLE})?(?:{_QUOTED}\s+)?"
            r"(?:function|method|class|constructor|code|struct|type)"
            rf"(?:\s+{_QUOTED})?(?:\s+in\s+\w+)?\s+"
        )
        match = re.match(subject, sentence, re.I)
        if match:
            rest = sentence[match.end() :]
            rest = re.sub(
                r"^(?:is|are)\s+(?:used|designed|responsible|meant)\s+(?:to|for)\s+", "", rest
            )
            if slot.kind in ("function", "method", "constructor"):
                verb, _, tail = rest.partition(" ")
                if verb.lower() in ("is", "are", "was", "has"):
                    rest = ""  # "The function is a ...": no verb to keep; use it whole
                elif slot.language != "go":  # Go doc comments: "Name returns ..."
                    rest = f"{_imperative(verb)} {tail}".strip()
            else:
                rest = re.sub(r"^(?:is|represents)\s+", "", rest)
            if rest:
                sentence = rest[:1].upper() + rest[1:]
    elif piece.startswith("param:"):
        lead = (
            rf"^(?:{_ARTICLE})?(?:parameter|argument)\s+{_NAME}"
            rf"(?:\s+(?:of|in|to)\s+(?:{_ARTICLE})?{_NAME}(?:\s+(?:function|method|class))?)?"
            r"\s+(?:is|represents|specifies|refers to)\s+"
        )
        sentence = re.sub(lead, "", sentence, flags=re.I)
    else:
        lead = (
            rf"^(?:{_ARTICLE})?(?:{_QUOTED}\s+)?(?:function|method)?\s*(?:{_QUOTED}\s+)?returns\s+"
        )
        sentence = re.sub(lead, "", sentence, flags=re.I)
    sentence = sentence.strip()
    if len(sentence) > 60 and sentence[-1] not in ".!?)":
        # Cut off by the token limit: end at the last clause boundary instead.
        cut = max(sentence.rfind(", "), sentence.rfind("; "))
        if cut > 30:
            sentence = sentence[:cut]
    return sentence[:1].upper() + sentence[1:]
