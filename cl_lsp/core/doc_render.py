"""Documentation text: the docstring style a repository uses, model-written pieces
(summary, parameter and return descriptions) rendered into a delimited, indented block,
and the frame around one piece that the model infills.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .doc_slots import DocSlot, doc_style
from .languages import DocStyle

# --------------------------------------------------------------------------- python style

_GOOGLE = re.compile(r"^\s*(Args|Arguments|Returns|Yields|Raises|Attributes):\s*$", re.M)
_NUMPY = re.compile(r"^\s*(Parameters|Returns|Yields|Raises|Attributes)\s*\n\s*-{3,}\s*$", re.M)
_REST = re.compile(r"^\s*:(param|type|returns?|rtype|raises)\b[^:\n]*:", re.M)


def detect_python_style(*texts: str) -> str:
    """The docstring style a repository already uses: "google", "numpy" or "rest"."""
    counts = Counter({"google": 0, "numpy": 0, "rest": 0})
    for text in texts:
        counts["numpy"] += len(_NUMPY.findall(text))
        counts["rest"] += len(_REST.findall(text))
        # NumPy headers have no colon, so they never count as Google ones.
        counts["google"] += len(_GOOGLE.findall(text))
    style, n = counts.most_common(1)[0]
    return style if n > 0 else "google"


# --------------------------------------------------------------------------- rendering


@dataclass
class DocParts:
    """The pieces the model writes; rendered per language and style."""

    summary: str = ""
    params: dict[str, str] = field(default_factory=dict)
    returns: str | None = None

    def set_piece(self, piece: str, text: str) -> None:
        """Set one piece by name: "summary", "param:NAME" or "returns"."""
        if piece == "summary":
            self.summary = text
        elif piece.startswith("param:"):
            self.params[piece[6:]] = text
        else:
            self.returns = text


def sanitize(text: str, limit: int = 300) -> str:
    """One line of prose: no control characters, no comment or string terminators."""
    text = "".join(ch if ch.isprintable() or ch == " " else " " for ch in text)
    for closer in ('"""', "'''", "*/", "-->"):
        text = text.replace(closer, " ")
    text = re.sub(r"\s+", " ", text).strip()
    text = text.rstrip('\\"')
    return text[:limit].rstrip('\\"').strip()


def _sentence(text: str, fallback: str) -> str:
    text = sanitize(text) or fallback
    if text and text[0].islower() and not text.startswith(("$", "_")):
        text = text[0].upper() + text[1:]
    if text and text[-1] not in ".!?:":
        text += "."
    return text


def humanize(name: str) -> str:
    """`read_file` / `readFile` -> "Read file"."""
    base = name.split("::")[-1].split(".")[-1].lstrip("_$")
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", base).replace("_", " ").split()
    if not words:
        return name
    phrase = " ".join(w.lower() if i else w.capitalize() for i, w in enumerate(words))
    return phrase


def _content_lines(slot: DocSlot, parts: DocParts, style: str) -> list[str]:
    """Documentation lines without delimiters (may contain "" for blank lines)."""
    fallback = humanize(slot.name)
    summary = _sentence(parts.summary, fallback)
    language = slot.language
    if language == "go" and not summary.startswith(slot.name + " "):
        summary = f"{slot.name} {summary[0].lower()}{summary[1:]}" if summary else slot.name
    lines = [summary]
    params = [(p, sanitize(parts.params.get(p, ""))) for p in slot.params if p in parts.params]
    returns = sanitize(parts.returns) if parts.returns is not None else None
    has_returns = returns is not None
    kind = _style(language).params
    if language == "python":
        if params or has_returns:
            lines.append("")
        if style == "numpy":
            if params:
                lines += ["Parameters", "----------"]
                for name, text in params:
                    lines += [name, "    " + (text or "")]
                if has_returns:
                    lines.append("")
            if has_returns:
                lines += ["Returns", "-------", f"    {returns}"]
        elif style == "rest":
            lines += [f":param {name}: {text}".rstrip() for name, text in params]
            if has_returns:
                lines.append(f":returns: {returns}")
        else:
            if params:
                lines.append("Args:")
                lines += [f"    {name}: {text}".rstrip() for name, text in params]
            if has_returns:
                lines += ([""] if params else []) + ["Returns:", f"    {returns}"]
        return [line.rstrip() for line in lines]
    if kind == "csharp":
        body = ["<summary>", _xml(summary), "</summary>"]
        body += [f'<param name="{name}">{_xml(text)}</param>' for name, text in params]
        if has_returns:
            body.append(f"<returns>{_xml(returns or '')}</returns>")
        return body
    if kind in ("jsdoc", "tsdoc", "phpdoc", "doxygen"):
        tags = []
        for name, text in params:
            if kind == "tsdoc":
                tags.append(f"@param {name} - {text}".rstrip(" -"))
            else:
                tags.append(f"@param {name} {text}".rstrip())
        if has_returns:
            tag = "return" if kind in ("phpdoc", "doxygen") or language == "java" else "returns"
            tags.append(f"@{tag} {returns}".rstrip())
        if kind == "doxygen":
            lines = [f"@brief {summary}"]
        if tags:
            lines += [""] + tags
        return lines
    return lines


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_doc(slot: DocSlot, parts: DocParts, style: str = "google") -> str:
    """The complete documentation block, ready to insert at `slot.insert`."""
    lines = _content_lines(slot, parts, style)
    conv = _style(slot.language)
    indent = slot.indent
    if conv.inside:
        body = "\n".join(lines)
        quote = 'r"""' if "\\" in body else '"""'
        if len(lines) == 1:
            block = f'{indent}{quote}{lines[0]}"""'
        else:
            inner = "\n".join((indent + line) if line else "" for line in lines[1:])
            block = f'{indent}{quote}{lines[0]}\n{inner}\n{indent}"""'
        if slot.blank_after:
            block += "\n"
        if slot.inline_body:
            # After ":" of `def f(): body`: docstring and body each on their own line.
            return "\n" + block + "\n" + indent
        return block + "\n"
    out: list[str] = []
    if conv.open:
        out.append(indent + conv.open)
    prefix = conv.line
    for line in lines:
        out.append((indent + prefix + line).rstrip() if line else (indent + prefix).rstrip())
    if conv.close:
        out.append(indent + conv.close)
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class DocFrame:
    """Text around one piece the model writes: doc text before it and after it."""

    before: str  # from the start of the documentation block to the piece
    after: str  # from the piece to the end of the documentation block


def doc_frame(slot: DocSlot, parts: DocParts, style: str, piece: str) -> DocFrame:
    """Split the rendered documentation at `piece` ("summary", "param:NAME", "returns").

    Pieces are rendered with a marker; the text before the marker is the infill prefix's
    tail and the text after it the suffix's head. Later pieces that are not written yet
    render empty, which is what a model would see in a half-written docstring.
    """
    # A marker that survives sanitising and rendering in every style.
    token = "QQMARKERQQ"
    trial = DocParts(parts.summary, dict(parts.params), parts.returns)
    trial.set_piece(piece, token)
    rendered = render_doc(slot, trial, style)
    found = re.search(token, rendered, re.I)
    if found is None:
        return DocFrame(rendered, "")
    before, after = rendered[: found.start()], rendered[found.end() :]
    if piece == "summary" and after.startswith("."):
        after = after[1:]  # the sentence's full stop is the model's to write
    return DocFrame(before, after)


def _style(language: str) -> DocStyle:
    style = doc_style(language)
    if style is None:
        raise KeyError(f"no documentation convention for {language!r}")
    return style
