"""spark-submit entry point: `scripts/submit jobs/demo.py ARGS` = `astrolake demo ARGS`.

scripts/submit is spark-submit with the Delta jars and SQL extension (see README.md). No logic here.
"""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
