"""spark-submit entry point: `spark-submit jobs/optimize.py ARGS` = `astrolake optimize ARGS`. No logic here."""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["optimize", *sys.argv[1:]]))
