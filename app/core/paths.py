"""Where PhotoSeek keeps its own data: one place, one override (PHOTOSEEK_HOME or --data-dir)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

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
            return cls.at(Path(home))
        return cls(
            data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            logs=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        )

    @classmethod
    def at(cls, home: Path) -> Paths:
        """A self-contained layout under one folder (tests, portable installs)."""
        home = Path(home).expanduser().resolve()
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
