"""CLIP models: the model folder, the catalog of models, install, encode text and photos.

The map:
    info          the model folder's layout, its manifest (photoseek.json), ModelInfo, hashing
                  and verifying a folder's files
    catalog       the published models a user can pick (name, size, languages, quality)
    hub           a hub repository listed at one commit; huggingface_hub set up our way
    download      the resumable, watched, verified download of a repository's files
    archive       model archives: written reproducibly, unpacked safely
    install       install from the hub, a folder or an archive: staged, checked, swapped in
    migrate       PhotoSeek 0.1's folders converted to the layout, keeping their model id
    installed     the installed models, which one is active / serving, their settings
    calibrate     a model's relevance floor, measured with its own weights
    tokenizer, preprocess   text to token ids, photos to pixels, as open_clip does
    devices       onnxruntime providers for a device name, physical cores
    graph_cache   what the encoder keeps in a folder to load fast (.verified.json, .optimized/)
    encoder       Encoder: text and photos to unit vectors with onnxruntime
    export/       open_clip (torch) to a model folder; the only part that needs torch

The life of a model folder: downloaded (download), exported (export) or copied from a folder or
archive (install, archive) into a staging folder beside the models -> verified (every file
against its published SHA-256 or the manifest's; its configs read by info.describe) ->
calibrated and its manifest written last -> installed (renamed to models/<name>) -> active (the
user's choice in settings.json; the first one installed) -> serving (what search uses; while the
library is re-encoded for a new active model, the old one keeps serving).
"""
