"""The door to the engine: everything the window (app/ui) and the command line (app/cli) may use.

Two facades and the types they hand out. `Library` is one data folder's photos: folders,
indexing, watching, search. The model functions manage the models installed in that data folder
(list, install, remove, choose) and work without opening a catalog, so `photoseek model install`
runs before any folder is added. tests/test_layering.py holds the UI and CLI to this module (the
exporter, which needs torch, is the one other module they may reach, behind a deferred import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.core import desktop_entry
from app.core.catalog.records import (
    GUESSED_SOURCES,
    MOMENT_BASE,
    Folder,
    Photo,
    is_moment,
    moment_label,
    place_of,
)
from app.core.errors import DamagedCatalogError, StorageError, UserError, storage_fault
from app.core.jobs import JobCancelled, JobControl
from app.core.library import (
    DuplicateGroup,
    DuplicateProgress,
    KeeperRule,
    Library,
    LibraryStatus,
    ModelState,
    SkippedFile,
    TrashResult,
)
from app.core.logs import LOG_NAME, log_file, record_bug, setup_logging
from app.core.model.catalog import CatalogEntry, default_entry, format_table, load_catalog
from app.core.model.encoder import Encoder, available_providers
from app.core.model.info import ModelError
from app.core.model.installed import (
    DEFAULT_MODEL,
    SETTING_ACTIVE,
    SETTING_DEVICE,
    SETTING_LANGUAGE,
    SETTING_PRECISION,
    InstalledModel,
    active_model_name,
    installed_models,
    migrate_installed,
    model_languages,
    read_settings,
    remove_model,
    resolve_model_dir,
    serving_model_name,
    set_active_model,
    update_settings,
)
from app.core.paths import ENV_HOME, Paths
from app.core.photos.formats import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from app.core.photos.video import frames_from as video_frames
from app.core.pipeline.indexer import IndexProgress, IndexReport
from app.core.pipeline.watcher import ChangeSummary, Watcher
from app.core.places.gazetteer import Place
from app.core.resources import ResourceError, resource_path
from app.core.search.places import PlaceCount
from app.core.search.query import Hit, PlaceFilter, Query, QueryError, SearchResult
from app.core.search.understand import Chip, Understanding

if TYPE_CHECKING:
    from app.core.model.install import install_model
else:

    def install_model(*args: Any, **kwargs: Any) -> Any:
        """Deferred: the downloader imports requests, whose urllib3 opens a socket to probe for
        IPv6 when imported; nothing may open a socket before a download is asked for
        (tests/test_privacy.py)."""
        from app.core.model.install import install_model as install

        return install(*args, **kwargs)


__all__ = [
    "DEFAULT_MODEL",
    "ENV_HOME",
    "GUESSED_SOURCES",
    "IMAGE_EXTENSIONS",
    "LOG_NAME",
    "MOMENT_BASE",
    "SETTING_ACTIVE",
    "SETTING_DEVICE",
    "SETTING_LANGUAGE",
    "SETTING_PRECISION",
    "VIDEO_EXTENSIONS",
    "CatalogEntry",
    "ChangeSummary",
    "Chip",
    "DamagedCatalogError",
    "DuplicateGroup",
    "DuplicateProgress",
    "Encoder",
    "Folder",
    "Hit",
    "IndexProgress",
    "IndexReport",
    "InstalledModel",
    "JobCancelled",
    "JobControl",
    "KeeperRule",
    "Library",
    "LibraryStatus",
    "ModelError",
    "ModelState",
    "Paths",
    "Photo",
    "Place",
    "PlaceCount",
    "PlaceFilter",
    "Query",
    "QueryError",
    "ResourceError",
    "SearchResult",
    "SkippedFile",
    "StorageError",
    "TrashResult",
    "Understanding",
    "UserError",
    "Watcher",
    "active_model_name",
    "available_providers",
    "default_entry",
    "desktop_entry",
    "format_table",
    "install_model",
    "installed_models",
    "is_moment",
    "load_catalog",
    "log_file",
    "migrate_installed",
    "model_languages",
    "moment_label",
    "place_of",
    "read_settings",
    "record_bug",
    "remove_model",
    "resolve_model_dir",
    "resource_path",
    "serving_model_name",
    "set_active_model",
    "setup_logging",
    "storage_fault",
    "update_settings",
    "video_frames",
]
