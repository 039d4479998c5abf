"""The command line's last line of defence: any exception becomes one line on stderr.

Faults of the machine (a damaged catalog, a full disk, a read-only folder) become a `UserError`
that names the file and the fix, with their own exit code. Anything else is a bug: its traceback
goes to the log file (the same as the window's: app.core.logs), and the user gets one line
saying where that file is.
"""

from __future__ import annotations

import logging

from app.core.api import (
    DamagedCatalogError,
    Paths,
    StorageError,
    UserError,
    record_bug,
    setup_logging,
    storage_fault,
)

log = logging.getLogger(__name__)

EXIT_STORAGE = StorageError.exit_code  # the disk is full or the data folder is not writable
EXIT_DAMAGED = DamagedCatalogError.exit_code  # the catalog file is damaged: `photoseek repair`
EXIT_BUG = 70  # a bug in PhotoSeek (EX_SOFTWARE): details in the log file
EXIT_BROKEN_PIPE = 141  # the reader of our output went away (`| head`): 128 + SIGPIPE


def explain(exc: BaseException, paths: Paths) -> UserError | None:
    """A one-line UserError for a fault of the machine, or None when `exc` is a bug."""
    known = storage_fault(exc, paths.data, paths.catalog)
    if known is not None:
        return known
    if isinstance(exc, NotADirectoryError):
        return UserError(
            f"{exc.filename or paths.data}: a file lies on the path of PhotoSeek's data folder "
            f"{paths.data}. Give --data-dir a folder (or a path that does not exist yet)."
        )
    return None


def report_bug(exc: BaseException, paths: Paths | None) -> str:
    """Log the traceback to the log file (if it can be written); the one line to show."""
    if paths is not None:
        setup_logging(paths.logs)
    log.debug("internal error", exc_info=exc)  # on the terminal only with -vv
    log_path = record_bug(exc)
    where = (
        f"the details are in {log_path}" if log_path else "run again with -vv to see the details"
    )
    summary = str(exc).splitlines()[0] if str(exc) else ""
    return (
        f"internal error ({type(exc).__name__}: {summary}); {where}. Please report it at "
        "the project's issue tracker."
    )
