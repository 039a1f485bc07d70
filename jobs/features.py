"""spark-submit entry point: `scripts/submit jobs/features.py ARGS` = `astrolake features ARGS`.

scripts/submit is spark-submit with the Delta jars and SQL extension (see README.md). No logic here.
"""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
