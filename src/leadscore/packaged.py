"""Files that ship inside the package (the default model, the platforms' mappings), found from any folder.

A wheel carries them under ``leadscore/_data``; an editable install reads the repository's copies.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
MODEL_IN_FOLDER = Path("config/scoring.yaml")
"""The model a run picks up from its working folder (a checkout, or a container's mounted config)."""


def packaged_file(folder: str, name: str) -> Path:
    """The packaged copy in an installed wheel, else the repository's copy."""
    packaged = resources.files("leadscore").joinpath("_data", folder, name)
    if packaged.is_file():
        return Path(str(packaged))
    return REPOSITORY / folder / name


def default_model() -> Path:
    """``config/scoring.yaml`` of the working folder where there is one, else the model shipped with leadscore;
    ``--model`` and ``LEADSCORE_MODEL`` override both."""
    if MODEL_IN_FOLDER.is_file():
        return MODEL_IN_FOLDER
    return packaged_file("config", "scoring.yaml")
