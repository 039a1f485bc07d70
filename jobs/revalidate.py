"""spark-submit entry point: `scripts/submit jobs/revalidate.py ARGS` = `astrolake revalidate ARGS`.

scripts/submit is spark-submit with the Delta jars and SQL extension (see README.md). No logic here.
"""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["revalidate", *sys.argv[1:]]))
