"""spark-submit entry point: `spark-submit jobs/search.py ARGS` = `astrolake search ARGS`. No logic here."""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["search", *sys.argv[1:]]))
