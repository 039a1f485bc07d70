"""``python -m astrolake.dl.worker CONFIG.json``: one rank of a horovodrun or tf-distribute job.

Runs :func:`astrolake.dl.trainer.train_worker` and writes its result to
``<result_dir>/rank<R>.json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    config = json.loads(Path(argv[0]).read_text())
    from astrolake.dl.trainer import train_worker

    result = train_worker(config)
    out = Path(config["result_dir"]) / f"rank{result['rank']}.json"
    out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
