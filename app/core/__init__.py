"""The engine: model, catalog, index, indexer, search. Never imports Qt, torch or open_clip
(except app.core.model.export.exporter, which only the exporter loads)."""
