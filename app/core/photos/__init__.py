"""Photo files: formats, headers and dates (no pixels), decoding, thumbnails."""
