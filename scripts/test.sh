#!/usr/bin/env bash
# Install everything the tests need (runtime, dev tools, the export extra with torch) into .venv
# and run the whole suite headless. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PHOTOSEEK_EXTRAS=dev,export bash scripts/setup-and-run.sh --no-launch
export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m ruff check app tests bench scripts
.venv/bin/python -m ruff format --check app tests bench scripts
.venv/bin/python -m mypy  # strict over all of app/ (pyproject.toml)
exec .venv/bin/python -m pytest "$@"
