"""The exporter (torch/open_clip, the `export` extra): CLIP to a model folder."""
