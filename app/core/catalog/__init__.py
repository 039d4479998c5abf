"""The catalog: one SQLite file with folders, photos and their stored vectors."""
