"""The vector index: an hnswlib graph plus full vectors, one per model."""
