"""Where photos were taken: their GPS positions and gazetteer places (a base of `Catalog`)."""

from __future__ import annotations

from app.core.catalog.connection import Database


class PlaceStore:
    """Place methods; `Catalog` supplies `db`."""

    db: Database
