"""spark-submit entry point: `spark-submit jobs/train.py ARGS` = `astrolake train ARGS`. No logic here."""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
