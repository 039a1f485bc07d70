"""spark-submit entry point: `scripts/submit jobs/cone.py ARGS` = `astrolake cone ARGS`.

scripts/submit is spark-submit with the Delta jars and SQL extension (see README.md). No logic here.
"""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["cone", *sys.argv[1:]]))
