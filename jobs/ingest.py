"""spark-submit entry point: `spark-submit jobs/ingest.py ARGS` = `astrolake ingest ARGS`. No logic here."""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
