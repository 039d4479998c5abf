"""The bundle's entry point: the same `photoseek` command the wheel installs (no command opens
the window, subcommands run the CLI)."""

import multiprocessing
import sys

from app.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # harmless where unused; needed by frozen spawn workers
    sys.exit(main())
