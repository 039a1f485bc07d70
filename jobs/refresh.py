"""spark-submit entry point: `spark-submit jobs/refresh.py ARGS` = `astrolake refresh ARGS`. No logic here."""

import sys

from astrolake.cli import main

if __name__ == "__main__":
    sys.exit(main(["refresh", *sys.argv[1:]]))
