"""Duplicates: exact copies and near-duplicates grouped from the catalog and the vector index,
the keeper rule, and moving chosen copies to the desktop trash."""
