"""leadscore: score and grade leads with one model, and write the result back to every platform.

The names below load on first use, so that starting a command (and noting a stop signal while it starts) does
not wait for the engine's models to be built.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
_HOMES = {
    "Engine": "leadscore.engine",
    "ModelFile": "leadscore.engine",
    "ScoringModel": "leadscore.engine",
    "load_model_file": "leadscore.engine",
    "Change": "leadscore.records",
    "Contact": "leadscore.records",
    "Contribution": "leadscore.records",
    "Event": "leadscore.records",
    "ScoreResult": "leadscore.records",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'leadscore' has no attribute {name!r}")
