"""spark-submit entry point: `spark-submit jobs/features.py ARGS` = `astrolake features ARGS`. No logic here."""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
