"""The README's settings table names every setting there is (and no setting there isn't)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from cl_lsp.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", README.read_text(), re.M))
    settings = Settings()
    actual = {
        f"{section.name}.{field.name}"
        for section in dataclasses.fields(settings)
        for field in dataclasses.fields(getattr(settings, section.name))
    }
    assert actual - documented == set(), "missing from the README's settings table"
    assert documented - actual == set(), "documented but not a setting"
