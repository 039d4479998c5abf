"""PhotoSeek: find any photo on your own computer by meaning."""

import os

__version__ = "0.1.0"

# Privacy: no photo and no query leaves the machine, and nothing phones home. onnxruntime makes
# DNS queries for its telemetry host about 10 s after a session starts unless this is set
# before it is imported (its disable_telemetry_events() does not stop them); huggingface_hub
# reads its own switch at import. Set here, first, for every entry point (CLI, window, tests).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
