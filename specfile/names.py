"""Suggestions for misspelled names ('did you mean ...?')."""
from __future__ import annotations

import difflib
from typing import Iterable


def closest(name: str, choices: Iterable[str]) -> str | None:
    """Return the choice most similar to `name`, or None when nothing is close (or `name` is
    longer than any real name: difflib's time grows with the square of the length)."""
    if len(str(name)) > 64:
        return None
    hits = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return hits[0] if hits else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' when a close choice exists, else ' (choices: a, b, c)'."""
    choices = sorted(choices)
    hit = closest(name, choices)
    if hit is not None:
        return f" (did you mean '{hit}'?)"
    return f" (choices: {', '.join(choices)})"
