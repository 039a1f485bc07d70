"""spark-submit entry point: `scripts/submit jobs/train_dnn.py ARGS` = `astrolake train-dnn ARGS`.

scripts/submit is spark-submit with the Delta jars and SQL extension (see README.md). No logic here.
"""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-dnn", *sys.argv[1:]]))
