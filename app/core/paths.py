"""Where PhotoSeek keeps its own data: one place, one override (PHOTOSEEK_HOME or --data-dir).

Also the one rule for "is this path inside that folder" (`is_under`, `folder_prefix`), so that
"/a/bc" is never taken for a path inside "/a/b".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from app.core.errors import UserError

APP_NAME = "PhotoSeek"
ENV_HOME = "PHOTOSEEK_HOME"


_SEPS = os.sep + (os.altsep or "")


def _trim(path: str) -> str:
    """`path` without trailing separators, except a root ("/") that is nothing else."""
    trimmed = path.rstrip(_SEPS)
    return trimmed if trimmed else path[:1]


def folder_prefix(folder: str | os.PathLike[str]) -> str:
    """`folder` with exactly one trailing separator: what every path inside it starts with.

    For loops over many paths spelled alike (catalog paths), `path.startswith(prefix)` with the
    prefix made once is `is_under(path, folder, strict=True)` without the per-call case folding.
    """
    return _trim(os.fspath(folder)).rstrip(_SEPS) + os.sep


def is_under(
    path: str | os.PathLike[str], folder: str | os.PathLike[str], *, strict: bool = False
) -> bool:
    """True when `path` is `folder` or lies inside it (`strict`: inside only, not the folder).

    Both are compared as spelled (normalise them alike first: catalog paths are): "/a/bc" is not
    under "/a/b", trailing separators are ignored, case counts where the platform's does.
    """
    p = os.path.normcase(_trim(os.fspath(path)))
    if p == os.path.normcase(_trim(os.fspath(folder))):
        return not strict
    return p.startswith(os.path.normcase(folder_prefix(folder)))


@dataclass(frozen=True)
class Paths:
    """All of PhotoSeek's own locations. Nothing here is ever a user's photo folder."""

    data: Path
    cache: Path
    config: Path
    logs: Path

    @classmethod
    def default(cls) -> Paths:
        """platformdirs locations, or everything under $PHOTOSEEK_HOME when it is set."""
        home = os.environ.get(ENV_HOME)
        if home:
            return cls.at(Path(home), what=f"${ENV_HOME}")
        return cls(
            data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            logs=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        )

    @classmethod
    def at(cls, home: Path | str, what: str = f"${ENV_HOME}") -> Paths:
        """A self-contained layout under one folder (tests, portable installs).

        `what` names where `home` came from, for the message when it cannot be a folder.
        """
        if not str(home).strip():
            raise UserError(
                f"{what} is empty: give the folder to keep PhotoSeek's data in, "
                "e.g. --data-dir ~/PhotoSeek."
            )
        home = Path(home).expanduser().resolve()
        if home.exists() and not home.is_dir():
            raise UserError(
                f"{what} {home} is a file, not a folder: give a folder (or a path that does "
                "not exist yet) to keep PhotoSeek's data in."
            )
        return cls(
            data=home / "data", cache=home / "cache", config=home / "config", logs=home / "logs"
        )

    @property
    def models(self) -> Path:
        return self.data / "models"

    @property
    def catalog(self) -> Path:
        return self.data / "catalog.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.data / "index"

    @property
    def thumbnails(self) -> Path:
        return self.cache / "thumbnails"

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def own(self) -> tuple[Path, ...]:
        """Every folder of PhotoSeek's own (never scanned for photos)."""
        return (self.data, self.cache, self.config, self.logs)

    def is_own(self, path: str | os.PathLike[str]) -> bool:
        """True for PhotoSeek's own files (a data folder may lie inside a photo folder)."""
        return any(is_under(path, p) for p in self.own)

    def ensure(self) -> Paths:
        for p in (self.data, self.cache, self.config, self.logs, self.models):
            try:
                p.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError) as e:
                raise UserError(
                    f"{e.filename or p}: a file lies where PhotoSeek keeps its folder {p}. "
                    "Move that file away, or give --data-dir another folder."
                ) from e
        return self
