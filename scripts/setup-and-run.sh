#!/usr/bin/env bash
# Set PhotoSeek up on a fresh machine (a virtual environment in .venv) and launch it.
# Safe to run again: it only installs what changed. Pass --no-launch to stop after setup.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${PHOTOSEEK_VENV:-.venv}
EXTRAS=${PHOTOSEEK_EXTRAS:-}

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "PhotoSeek needs Python 3.10 or newer; set PYTHON=/path/to/python3.x" >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
spec=".${EXTRAS:+[$EXTRAS]}"
stamp="$VENV/.photoseek-installed"
want=$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -c1-16)"$EXTRAS"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e "$spec"
  echo "$want" > "$stamp"
fi
[ "${1:-}" = "--no-launch" ] && exit 0
exec "$VENV/bin/photoseek"
