"""spark-submit entry point: `spark-submit jobs/score.py ARGS` = `astrolake score ARGS`. No logic here."""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["score", *sys.argv[1:]]))
