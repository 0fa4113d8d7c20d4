"""Values from data, made safe to print as plain text (a terminal, a Markdown note)."""

from __future__ import annotations

import unicodedata
from typing import Any


def one_line(value: Any) -> str:
    """``value`` on one line with nothing a terminal or a renderer would act on: every
    control or format character (escape sequences, line breaks, bidi overrides) becomes
    a space, and runs of white space one space. File names and column names come from
    dropped files: a name holding ``ESC[2J`` must not clear the screen of ``make quarantine``."""
    return " ".join("".join(" " if unicodedata.category(c)[0] == "C" else c for c in str(value)).split())
