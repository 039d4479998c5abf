"""Duplicate candidates: difference hashes and whole-file hashes (a base of `Catalog`)."""

from __future__ import annotations

from app.core.catalog.connection import Database


class LikenessStore:
    """Duplicate-finding methods; `Catalog` supplies `db`."""

    db: Database
