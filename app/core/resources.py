"""Where PhotoSeek's own files (icons, the .desktop file, AppStream metainfo) are, however it runs.

Three layouts: the source tree (and an editable install) keeps them in `<repo>/resources`; a
wheel installs them as the package data `app/resources`; a PyInstaller bundle unpacks them to
`<sys._MEIPASS>/app/resources`. `resource_path()` finds whichever is there.
"""

from __future__ import annotations

import logging
import sys
from functools import lru_cache
from pathlib import Path

import app
from app.core.errors import UserError

log = logging.getLogger(__name__)

# A file every layout has; a folder without it is not ours (or is damaged).
MARKER = "photoseek.desktop"


class ResourceError(UserError):
    """PhotoSeek's own resource files are missing: the installation is incomplete."""


def resource_candidates() -> list[Path]:
    """The folders that may hold the resources, most specific first."""
    package = Path(app.__file__).resolve().parent
    found: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        found.append(Path(bundle) / "app" / "resources")
    found.append(package / "resources")  # an installed wheel
    found.append(package.parent / "resources")  # the source tree or an editable install
    return found


@lru_cache(maxsize=1)
def resources_root() -> Path:
    """The folder holding PhotoSeek's resources; ResourceError when no layout has them."""
    candidates = resource_candidates()
    for folder in candidates:
        if (folder / MARKER).is_file():
            log.debug("resources in %s", folder)
            return folder
    tried = ", ".join(str(c) for c in candidates)
    raise ResourceError(
        f"PhotoSeek's resource files are missing (looked in {tried}). The installation is "
        "incomplete: reinstall PhotoSeek (pipx reinstall photoseek, or unpack the bundle again)."
    )


def resource_path(*parts: str) -> Path:
    """`resources/<parts...>` in whichever layout is running, e.g. resource_path("icons",
    "search.svg"). The file itself is not checked, so optional files can be probed with it."""
    return resources_root().joinpath(*parts)
