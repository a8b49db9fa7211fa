"""Trained weights shipped with edgecheck, and their provenance.

``fqa.pt``: the FQA CNN (Table I) trained by `edgecheck.training.train_fqa` on the generated
face-quality data (`edgecheck.data`, ``DATA_VERSION`` in the provenance); a ``state_dict``
saved with ``torch.save`` and read with ``torch.load(weights_only=True)``. ``fqa.json``: how
it was made (seed, data version, epochs, torch version) and its held-out metrics (Spearman,
MAE on the paper's 2573 test images). ``edgecheck train fqa`` re-creates both.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecheck.errors import ModelError

if TYPE_CHECKING:
    from edgecheck.models.fqa import FQACNN

FQA_WEIGHTS = "fqa.pt"
FQA_PROVENANCE = "fqa.json"


def _retrain_hint() -> str:
    return "re-create it with 'edgecheck train fqa --out PATH' and pass that path"


def provenance_path(weights: str | os.PathLike[str]) -> Path:
    """The provenance JSON that belongs to a weights file (``x.pt`` -> ``x.json``)."""
    return Path(weights).with_suffix(".json")


def fqa_provenance(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The provenance record of the shipped FQA weights (or of the weights file at `path`).

    Raises:
        ModelError: the JSON file is missing or not valid JSON.
    """
    if path is None:
        ref = resources.files("edgecheck.weights").joinpath(FQA_PROVENANCE)
        where = f"edgecheck/weights/{FQA_PROVENANCE}"
        try:
            text = ref.read_text(encoding="utf-8")
        except (FileNotFoundError, OSError) as exc:
            raise ModelError(
                f"{where} is missing from the installed package; {_retrain_hint()}."
            ) from exc
    else:
        json_path = provenance_path(path)
        where = str(json_path)
        try:
            text = json_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ModelError(
                f"{where}: cannot read the provenance ({exc}); {_retrain_hint()}."
            ) from exc
    try:
        record: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{where} is not valid JSON ({exc}); {_retrain_hint()}.") from exc
    return record


def load_trained_fqa(
    path: str | os.PathLike[str] | None = None, *, check_data: bool = True
) -> FQACNN:
    """The trained FQA CNN, in eval mode on the CPU.

    Args:
        path: a weights file written by `edgecheck.training.save_weights`; default: the
            weights shipped in this package.
        check_data: refuse weights whose provenance names another data version than
            `edgecheck.data.DATA_VERSION` (they would be measured on data they were not
            trained for). Default True.

    Raises:
        ModelError: the file is missing, not a state_dict of the FQA CNN, or trained on
            another data version.
    """
    import torch

    from edgecheck.data import DATA_VERSION
    from edgecheck.models import build_model

    if path is None:
        ref = resources.files("edgecheck.weights").joinpath(FQA_WEIGHTS)
        where = f"edgecheck/weights/{FQA_WEIGHTS}"
        try:
            with ref.open("rb") as fh:
                state = torch.load(fh, map_location="cpu", weights_only=True)
        except (FileNotFoundError, OSError) as exc:
            raise ModelError(
                f"{where} is missing from the installed package; {_retrain_hint()}."
            ) from exc
    else:
        where = str(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError) as exc:
            raise ModelError(
                f"{where}: cannot load FQA weights ({type(exc).__name__}: {exc}); {_retrain_hint()}."
            ) from exc
    if check_data:
        version = fqa_provenance(path).get("data_version")
        if version != DATA_VERSION:
            raise ModelError(
                f"{where} was trained on data version {version!r}, but this edgecheck generates "
                f"{DATA_VERSION!r}; {_retrain_hint()}, or pass check_data=False."
            )
    model = build_model("fqa", seed=0)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise ModelError(
            f"{where} does not hold FQA CNN weights (Table I layout): {exc}; {_retrain_hint()}."
        ) from exc
    return model.eval()
