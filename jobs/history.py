"""spark-submit entry point: `spark-submit jobs/history.py ARGS` = `astrolake history ARGS`. No logic here."""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["history", *sys.argv[1:]]))
