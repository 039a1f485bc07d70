"""spark-submit entry point: `spark-submit jobs/train_dnn.py ARGS` = `astrolake train-dnn ARGS`. No logic here."""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-dnn", *sys.argv[1:]]))
