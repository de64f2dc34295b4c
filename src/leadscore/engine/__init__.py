"""The pure scoring engine: no I/O, no clock; ``now`` is always an argument."""

from __future__ import annotations

from leadscore.engine.explain import Reasons, reasons_text, render_reasons, top_contributions
from leadscore.engine.loader import load_model_file, parse_model_text
from leadscore.engine.model import ModelFile, ScoringModel
from leadscore.engine.score import Engine

__all__ = [
    "Engine",
    "ModelFile",
    "Reasons",
    "ScoringModel",
    "engines",
    "load_model_file",
    "parse_model_text",
    "reasons_text",
    "render_reasons",
    "top_contributions",
]


def engines(model_file: ModelFile) -> list[Engine]:
    """One compiled engine per named model, in file order."""
    return [Engine(name, model) for name, model in model_file.models.items()]
