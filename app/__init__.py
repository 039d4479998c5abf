"""PhotoSeek: find any photo on your own computer by meaning."""

__version__ = "0.1.0"
