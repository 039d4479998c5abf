"""Child process of the kill test: indexes a library slowly (small batches, an index save after
every batch) so the test can SIGKILL it at an arbitrary moment mid-run.

Usage: python tests/killed_index_child.py HOME MODEL_DIR DELAY_S
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from app.core.library import Library  # noqa: E402
from app.core.model.encoder import Encoder  # noqa: E402
from app.core.paths import Paths  # noqa: E402


class SlowEncoder(Encoder):
    """The real encoder, made slow so a run lasts long enough to be killed half-way."""

    delay_s = 0.1

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        time.sleep(self.delay_s)
        return super().encode_pixels(pixels)


def main(home: str, model_dir: str, delay: str) -> int:
    encoder = SlowEncoder(model_dir, device="cpu", threads=1)
    encoder.delay_s = float(delay)
    lib = Library(Paths.at(Path(home)), encoder)
    lib.indexer.batch_size = 2
    lib.indexer.save_interval_s = 0.0  # save the index after every batch: kills land in saves
    print("indexing", flush=True)
    report = lib.index()
    lib.close()
    print(f"finished {report}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
