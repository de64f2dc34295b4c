"""leadscore: score and grade leads with one model, and write the result back to every platform."""

from __future__ import annotations

from leadscore.engine import Engine, ModelFile, ScoringModel, load_model_file
from leadscore.records import Change, Contact, Contribution, Event, ScoreResult

__all__ = [
    "Change",
    "Contact",
    "Contribution",
    "Engine",
    "Event",
    "ModelFile",
    "ScoreResult",
    "ScoringModel",
    "load_model_file",
]
__version__ = "0.1.0"
