"""The class of a variable, where the file says it: `obj.NAME` means that class's member.

No type inference: the declarations a reader sees at a glance.

  Python      `def f(req: Request)`, `req = Request(...)`, `self.pool = pool.Pool(...)`
  TypeScript  `(req: Request)`, `private pool: Pool`, `const req = new Request(...)`
  Go          `func (c *Command) ...`, `(cmd *Command, args []string)`,
              `c := &Command{...}`, `c := NewCommand(...)`, `var c *Command`

Only names that look like types (an upper-case first letter) count, so `x: int` or
`n := len(s)` never claim a class.
"""

from __future__ import annotations

import re

_TYPE = r"(?:[A-Za-z_]\w*\.)?([A-Z]\w*)"  # `Request` or `models.Request`: the last part
_S = r"[ \t]*"  # within one line
_ANNOTATED = re.compile(rf"\b([A-Za-z_]\w*)\??{_S}:{_S}(?:Optional\[|readonly[ \t]+)?{_TYPE}")
_CONSTRUCTED = re.compile(
    rf"\b(?:self\.|this\.)?([A-Za-z_]\w*){_S}=(?!=){_S}(?:new[ \t]+|await[ \t]+)?{_TYPE}{_S}[({{]"
)
_GO_DECLARED = re.compile(rf"\b([A-Za-z_]\w*)[ \t]+(?:\[\])?\*?{_TYPE}{_S}[,)]")
_GO_VAR = re.compile(rf"\bvar[ \t]+([A-Za-z_]\w*)[ \t]+\*?{_TYPE}")
_GO_SHORT = re.compile(rf"\b([A-Za-z_]\w*){_S}:?={_S}&?(?:New)?{_TYPE}{_S}[({{]")


def variable_types(text: str, language: str) -> dict[str, str]:
    """Variable or attribute name -> the class name the text declares it as (for a name
    declared several times, the last declaration of each pattern wins)."""
    found: dict[str, tuple[int, str]] = {}
    if language in ("typescript", "tsx", "javascript"):
        text = text.replace("#", "")  # private fields: `#cache: QueryCache`
    patterns = (
        (_GO_DECLARED, _GO_VAR, _GO_SHORT)
        if language == "go"
        else (
            _ANNOTATED,
            _CONSTRUCTED,
        )
    )
    for pattern in patterns:
        for match in pattern.finditer(text):
            name = match.group(1)
            if name not in found or found[name][0] < match.start():
                found[name] = (match.start(), match.group(2))
    return {name: cls for name, (_, cls) in found.items()}


_RECEIVER = re.compile(r"(?<![\w$])#?([A-Za-z_]\w*)[ \t]*(?=\.[ \t]*[A-Za-z_#])")


def dotted_objects(text: str) -> set[str]:
    """Names used as `name.member` (also `self.name.member`: the attribute `name`;
    `this.#cache.get`: the private field `cache`)."""
    return {match.group(1) for match in _RECEIVER.finditer(text)}
