"""CLIP models: the model folder, the catalog of models, install, encode text and photos."""
