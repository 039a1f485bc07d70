"""spark-submit entry point: `spark-submit jobs/promote.py ARGS` = `astrolake promote ARGS`. No logic here."""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["promote", *sys.argv[1:]]))
