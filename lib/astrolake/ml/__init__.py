"""Learning: gold features, MLlib models, evaluation, MLflow tracking, scoring.

``train`` and ``search`` are modules here (:mod:`astrolake.ml.train`, :mod:`astrolake.ml.search`); the
functions of the same names are exported by :mod:`astrolake` itself.

Public names load lazily: importing the package imports none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrolake._lazy import exports

_EXPORTS = {
    "build_gold": "astrolake.ml.features",
    "training_data": "astrolake.ml.features",
    "promote": "astrolake.ml.registry",
    "score": "astrolake.ml.scoring",
}
__all__ = ["build_gold", "training_data", "promote", "score"]
__getattr__, __dir__ = exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from astrolake.ml.features import build_gold, training_data
    from astrolake.ml.registry import promote
    from astrolake.ml.scoring import score
