"""Lab 4, Task 4.3 — predicting with a model entry, and one model in a class used as a dependency.

Read notebooks/04_lifespan_registry.ipynb, section 4.3.

* Task 4.3 ``predict_one``: one input, one label, with any model of the registry.
* Task 4.3 ``NewsgroupsModel.load_model`` and ``NewsgroupsModel.predict``: a class that holds one model.
  It is created *empty* when this module is imported (``newsgroups_model`` below), filled by
  ``load_model`` in the app's lifespan, and its ``predict`` method is a FastAPI dependency:
  ``Depends(newsgroups_model.predict)`` in app.py. FastAPI reads the method's parameters (a JSON body
  shaped like ``TextInput``) and hands its return value to the route.

Why not load in ``__init__``? Because ``newsgroups_model = NewsgroupsModel()`` runs at *import*: every
``import lab4.app`` — a test, a notebook, a worker that only needs one function — would read the model
file, and would fail without one.

Check it: ``pytest checks/lab4 -k "predict_one or newsgroups_model"``.
"""

from __future__ import annotations

from .registry import ModelEntry, ModelRegistry, RegistryUnavailableError
from .schemas import IrisFeatures, Prediction, TextInput


class WrongInputError(ValueError):
    """Given: the input does not suit the model (text sent to an iris model, or the reverse)."""


def predict_one(entry: ModelEntry, payload: TextInput | IrisFeatures) -> Prediction:  # Task 4.3
    """Predict one label with ``entry``'s pipeline.

    A ``"text"`` model takes ``TextInput`` and predicts on ``[payload.text]``; a ``"tabular"`` model takes
    ``IrisFeatures`` and predicts on ``[payload.as_row()]``. Any other pairing raises ``WrongInputError``
    with a message naming the model and the input it expects.

    The pipeline predicts an integer ``i``; answer ``Prediction(model=entry.name, version=entry.version,
    label=entry.classes[i])``.
    """
    raise NotImplementedError("Task 4.3: Predict with an entry; a model class as a dependency")


class NewsgroupsModel:
    """The text classifier in a class: created empty, loaded in the lifespan, injected with ``Depends``."""

    name = "newsgroups"

    def __init__(self) -> None:
        # Nothing is loaded here: this runs when the module is imported (see the module docstring).
        self.entry: ModelEntry | None = None

    def load_model(self, registry: ModelRegistry) -> None:  # Task 4.3
        """Take this model (``self.name``) from the registry the lifespan has just filled.

        The registry has already read and verified the file, so the file is read once. Raises
        ``UnknownModelError`` (from ``registry.get``) when the registry holds no such model.
        """
        raise NotImplementedError("Task 4.3: Predict with an entry; a model class as a dependency")

    def unload(self) -> None:
        """Given: forget the model (the lifespan calls this at shutdown)."""
        self.entry = None

    def predict(self, payload: TextInput) -> Prediction:  # Task 4.3
        """The dependency: classify ``payload.text`` with the loaded model (use ``predict_one``).

        Before ``load_model`` has run (or after ``unload``), raise
        ``RegistryUnavailableError("the newsgroups model is not loaded")``: the app answers it with 503.
        """
        raise NotImplementedError("Task 4.3: Predict with an entry; a model class as a dependency")


newsgroups_model = NewsgroupsModel()  # cheap: an empty holder, filled by the lifespan
