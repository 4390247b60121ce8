import sys

from lineflow.cli import main

# Guarded: a backfill's parse workers are spawned processes, which import the main module.
if __name__ == "__main__":
    sys.exit(main())
