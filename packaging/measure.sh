#!/usr/bin/env bash
# Measure the built bundle (packaging/build-bundle.sh): its size unpacked and as a .tar.gz, the
# time `photoseek --version` takes (first run, then the median of 5), and the time until its
# window is on screen, on a virtual X server (median of 3 first launches, each with a new data
# folder, so the first-run dialog is part of it). Needs Xvfb and xdotool for the window
# (apt-get install xvfb xdotool); without them that line says so.
#
#   bash packaging/measure.sh [BUNDLE_DIR]        (default dist/photoseek)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-dist/photoseek}
EXE=$DIR/photoseek
[ -x "$EXE" ] || { echo "measure.sh: no bundle at $DIR; run packaging/build-bundle.sh" >&2; exit 1; }
WORK=$(mktemp -d)
XVFB_PID=
cleanup() { [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

size=$(du -sh "$DIR" | cut -f1)
files=$(find "$DIR" -type f | wc -l)
packed=$(tar -C "$(dirname "$DIR")" -czf - "$(basename "$DIR")" | wc -c)
echo "bundle:        $DIR, $size on disk in $files files, $(awk -v b="$packed" 'BEGIN { printf "%.0f MB", b / 1e6 }') as .tar.gz"

export QT_QPA_PLATFORM=offscreen
t=$(now); "$EXE" --version >/dev/null; first=$(since "$t")
runs=$(for _ in 1 2 3 4 5; do t=$(now); "$EXE" --version >/dev/null; since "$t"; echo; done | median)
echo "--version:     ${first} s first run, ${runs} s median of 5"

if command -v Xvfb >/dev/null && command -v xdotool >/dev/null; then
  display=":$((200 + $$ % 500))"
  Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  XVFB_PID=$!
  for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
  times=()
  for i in 1 2 3; do
    t=$(now)
    DISPLAY=$display QT_QPA_PLATFORM=xcb "$EXE" --data-dir "$WORK/home$i" >/dev/null 2>&1 &
    app=$!
    DISPLAY=$display timeout 120 xdotool search --sync --onlyvisible --pid "$app" >/dev/null
    times+=("$(since "$t")")
    kill "$app"; wait "$app" 2>/dev/null || true
  done
  echo "first window:  $(printf '%s\n' "${times[@]}" | median) s median of 3 (${times[*]})"
else
  echo "first window:  not measured (apt-get install xvfb xdotool)"
fi
