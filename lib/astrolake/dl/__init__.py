"""Deep learning: Keras models trained with Horovod or tf.distribute, and Galaxy Zoo images.

Public names load lazily: importing the package imports none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrolake._lazy import exports

_EXPORTS = {
    "train_dnn": "astrolake.dl.train",
    "search_dnn": "astrolake.dl.search",
    "write_snapshot": "astrolake.dl.snapshot",
    "ingest_images": "astrolake.dl.images",
    "train_cnn": "astrolake.dl.images",
    "transfer_learning": "astrolake.dl.images",
}
__all__ = ["train_dnn", "search_dnn", "write_snapshot", "ingest_images", "train_cnn", "transfer_learning"]
__getattr__, __dir__ = exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from astrolake.dl.images import ingest_images, train_cnn, transfer_learning
    from astrolake.dl.search import search_dnn
    from astrolake.dl.snapshot import write_snapshot
    from astrolake.dl.train import train_dnn
