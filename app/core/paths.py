"""Where PhotoSeek keeps its own data: one place, one override (PHOTOSEEK_HOME or --data-dir)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from app.core.errors import UserError

APP_NAME = "PhotoSeek"
ENV_HOME = "PHOTOSEEK_HOME"


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

    def ensure(self) -> Paths:
        for p in (self.data, self.cache, self.config, self.logs, self.models):
            p.mkdir(parents=True, exist_ok=True)
        return self
