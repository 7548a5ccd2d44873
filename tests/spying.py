"""Spies on the pipeline's functions: what a test needs to know of the path a run took."""

from __future__ import annotations

from types import ModuleType

import pytest


def answered_by_lines(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[bool]:
    """Whether each call of `module.validate_by_lines` from now on gave an answer (a feed
    validated by its changed lines) rather than None (validated as a whole)."""
    answers: list[bool] = []
    validate_by_lines = module.validate_by_lines

    def recorded(*args, **kwargs):
        found = validate_by_lines(*args, **kwargs)
        answers.append(found is not None)
        return found

    monkeypatch.setattr(module, "validate_by_lines", recorded)
    return answers
