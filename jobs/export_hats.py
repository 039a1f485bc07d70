"""spark-submit entry point: `scripts/submit jobs/export_hats.py ARGS` = `astrolake export-hats ARGS`.

scripts/submit is spark-submit with the Delta jars and SQL extension (see README.md). No logic here.
"""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["export-hats", *sys.argv[1:]]))
