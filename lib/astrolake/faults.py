"""Fault points for reliability tests: the process dies at a named point of its work.

``ASTROLAKE_FAULT=<name>`` in the environment makes :func:`point` with that name send SIGKILL to
its own process, as a machine that loses power or a scheduler that kills a job would: no
``finally``, no ``atexit``.  Without the variable a point costs one dictionary lookup.

Points (each placed between two writes whose order the code relies on):

* ``promote.tagged``: the comparison's tags are on the challenger; the alias has not moved;
* ``promote.moved``: ``champion`` points at the challenger; its result tag still says ``wins``;
* ``batch.bronze``: a batch's bronze rows are committed, its quarantine rows not;
* ``batch.quarantine``: its quarantine rows are committed (a re-validation: replaced), silver not;
* ``batch.silver``: silver is written, the ledger row (the batch's commit mark) not;
* ``gold.written``: a first (or full) gold build is written, the silver version it saw not recorded;
* ``gold.merged``: an incremental gold refresh has merged its changes, the new version not recorded;
* ``score.retracted``: predictions of retracted rows are soft-deleted, the new predictions not appended;
* ``dnn.epoch``: a training rank 0 has checkpointed an epoch (weights, epoch, run id), more remain;
* ``dnn.registered``: rank 0 has registered the trained model, the run is not marked finished and the
  launcher has not removed the checkpoint.

A point inside a training rank sees the variable when it is set before the training starts: the
launchers pass the environment on to their worker processes.
"""

from __future__ import annotations

import logging
import os
import signal

ENV = "ASTROLAKE_FAULT"
POINTS = (
    "promote.tagged",
    "promote.moved",
    "batch.bronze",
    "batch.quarantine",
    "batch.silver",
    "gold.written",
    "gold.merged",
    "score.retracted",
    "dnn.epoch",
    "dnn.registered",
)

log = logging.getLogger(__name__)


def point(name: str) -> None:
    """Die here (SIGKILL) when ``$ASTROLAKE_FAULT`` names this point."""
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r}; known: {', '.join(POINTS)}")
    if os.environ.get(ENV) == name:
        log.warning(f"fault point {name}: killing this process (SIGKILL)")
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
