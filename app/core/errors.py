"""Errors a user can fix: each message names the file or setting and says what to do."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (bad path, no model, offline). Shown without a traceback."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
