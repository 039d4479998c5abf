"""`photoseek model export` on an install without the export extra says what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs the CLI with torch made unimportable, as in a wheel or bundle without the export extra.
NO_TORCH = (
    "import sys; sys.modules['torch'] = None; from app.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)


def test_export_without_torch_explains_the_export_extra(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH, "--data-dir", str(tmp_path), "model", "export",
         "--random-init"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "photoseek[export]" in proc.stderr and "photoseek model install" in proc.stderr
    assert not (tmp_path / "data" / "models").exists() or not any(
        (tmp_path / "data" / "models").iterdir()
    )
