"""spark-submit entry point: `scripts/submit jobs/xmatch.py ARGS` = `astrolake xmatch ARGS`.

scripts/submit is spark-submit with the Delta jars and SQL extension (see README.md). No logic here.
"""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["xmatch", *sys.argv[1:]]))
