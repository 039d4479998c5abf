#!/usr/bin/env bash
# Build PhotoSeek as a one-folder application with PyInstaller: dist/photoseek/ (run
# dist/photoseek/photoseek) and, unless --no-archive, the archive to hand to users,
# dist/photoseek-<version>-<os>-<arch>.tar.gz (.zip on Windows and macOS). No torch inside.
#
# It builds in its own virtual environment, build/bundle/venv: the runtime dependencies from
# pyproject.toml (pinned by requirements/constraints.txt) plus the pinned build tools in
# packaging/requirements-build.txt, nothing else, so no test or export package can leak in.
#
# hnswlib is compiled portably: by default it builds with -march=native, and a binary built that
# way can crash on another CPU. Here it is compiled from source with HNSWLIB_NO_NATIVE=1, with
# pip's cache off (the cache may hold a native build of the same version, which pip would reuse
# whatever the environment says), the compile log is checked for -march=native, and the bundle's
# hnswlib is checked to be that very binary.
#
#   bash packaging/build-bundle.sh [--no-archive]      PYTHON=python3.12 picks the interpreter
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
BUILD=build/bundle
VENV=$BUILD/venv
ARCHIVE=1
[ "${1:-}" = "--no-archive" ] && ARCHIVE=0

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "build-bundle.sh: needs Python 3.11 or newer (tomllib); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
mkdir -p "$BUILD"
[ -d "$VENV" ] || "$PY" -m venv "$VENV"
VPY=$VENV/bin/python
[ -x "$VPY" ] || VPY=$VENV/Scripts/python.exe
PIP=("$VPY" -m pip --disable-pip-version-check --no-input)

hnswlib_pin=$(grep -E '^hnswlib==' requirements/constraints.txt | cut -d= -f3)
stamp=$BUILD/venv.stamp
want=$(cat pyproject.toml requirements/constraints.txt packaging/requirements-build.txt \
  "$0" | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "1/4 build environment in $VENV"
  wheels=$BUILD/wheels
  rm -rf "$wheels"
  mkdir -p "$wheels"
  HNSWLIB_NO_NATIVE=1 "${PIP[@]}" wheel --no-cache-dir --no-deps --no-binary hnswlib \
    --verbose -w "$wheels" "hnswlib==$hnswlib_pin" > "$BUILD/hnswlib-build.log" 2>&1 || {
    tail -30 "$BUILD/hnswlib-build.log" >&2; exit 1; }
  if grep -q -- "-march=native" "$BUILD/hnswlib-build.log"; then
    echo "build-bundle.sh: hnswlib was compiled with -march=native (see $BUILD/hnswlib-build.log)" >&2
    exit 1
  fi
  # The app's dependencies as a requirements file: some carry environment markers with spaces.
  "$VPY" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > "$BUILD/app-requirements.txt"
  "${PIP[@]}" install --quiet --force-reinstall --no-deps "$wheels"/hnswlib-*.whl
  "${PIP[@]}" install --quiet -c requirements/constraints.txt -r packaging/requirements-build.txt -r "$BUILD/app-requirements.txt"
  echo "$want" > "$stamp"
else
  echo "1/4 build environment in $VENV (up to date)"
fi

echo "2/4 checking that the environment's hnswlib is the portable build"
"$VPY" - "$BUILD/wheels" <<'PYTHON'
import hashlib, sys, zipfile
from pathlib import Path
import hnswlib
wheel = next(Path(sys.argv[1]).glob("hnswlib-*.whl"))
with zipfile.ZipFile(wheel) as zf:
    built = {Path(n).name: hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist()
             if n.endswith((".so", ".pyd"))}
installed = Path(hnswlib.__file__)
if built.get(installed.name) != hashlib.sha256(installed.read_bytes()).hexdigest():
    sys.exit(f"build-bundle.sh: {installed} is not the portable build from {wheel}")
for mod in ("torch", "open_clip", "onnx", "transformers"):
    try:
        __import__(mod)
    except ImportError:
        continue
    sys.exit(f"build-bundle.sh: {mod} is installed in the build environment; remove {sys.prefix}")
PYTHON

echo "3/4 PyInstaller"
"$VPY" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath "$BUILD/work" \
  packaging/photoseek.spec
if [ "$(uname -s)" = Linux ] && command -v readelf >/dev/null && command -v strip >/dev/null; then
  # Debug info only, and only where there is some (libpython, the stdlib's modules, hnswlib):
  # a full strip breaks the libraries auditwheel patched.
  stripped=0
  while IFS= read -r -d '' lib; do
    if readelf -S "$lib" 2>/dev/null | grep -q '\.debug_info'; then
      strip --strip-debug "$lib"
      stripped=$((stripped + 1))
    fi
  done < <(find dist/photoseek -type f \( -name '*.so' -o -name '*.so.*' \) -print0)
  echo "   removed debug info from $stripped libraries"
fi
if find dist/photoseek -ipath '*torch*' -print -quit | grep -q .; then
  echo "build-bundle.sh: torch found its way into dist/photoseek" >&2
  exit 1
fi
exe=dist/photoseek/photoseek
[ -x "$exe" ] || exe=dist/photoseek/photoseek.exe
QT_QPA_PLATFORM=offscreen "$exe" --version

if [ "$ARCHIVE" = 1 ]; then
  echo "4/4 archive"
  "$VPY" - <<'PYTHON'
import platform, shutil, sys
from app import __version__
osname = {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
fmt = "gztar" if osname == "linux" else "zip"
base = f"dist/photoseek-{__version__}-{osname}-{platform.machine().lower()}"
root = "PhotoSeek.app" if osname == "macos" else "photoseek"
print(shutil.make_archive(base, fmt, root_dir="dist", base_dir=root))
PYTHON
else
  echo "4/4 archive skipped (--no-archive)"
fi
du -sh dist/photoseek
