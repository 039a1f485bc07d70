"""spark-submit entry point: `spark-submit jobs/revalidate.py ARGS` = `astrolake revalidate ARGS`. No logic here."""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["revalidate", *sys.argv[1:]]))
