"""spark-submit entry point: `scripts/submit jobs/retract.py ARGS` = `astrolake retract ARGS`.

scripts/submit is spark-submit with the Delta jars and SQL extension (see README.md). No logic here.
"""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["retract", *sys.argv[1:]]))
