"""spark-submit entry point: `spark-submit jobs/demo.py ARGS` = `astrolake demo ARGS`. No logic here."""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
