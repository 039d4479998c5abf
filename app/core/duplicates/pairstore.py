"""The near-duplicate pairs of one model, kept on disk between sessions, so a library of
100,000 photos is searched through once (bench/duplicates.py: ~16 s) and after that only its
new and changed photos ask for their neighbours. A cache: unreadable, from other thresholds or
another format, it is ignored and rebuilt."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.duplicates.calibration import Thresholds
from app.core.durable import write_atomic

log = logging.getLogger(__name__)

FORMAT = 1


@dataclass
class PairCache:
    """The duplicate pairs of one model, as of one catalog generation, with the fingerprint
    each photo had then (a changed fingerprint: the photo asks again)."""

    generation: int = -1
    fingerprints: dict[int, str | None] = field(default_factory=dict)
    pairs: dict[tuple[int, int], float] = field(default_factory=dict)


def cache_path(folder: Path, t: Thresholds) -> Path:
    return folder / f"{t.model_id}.pairs.npz"


def load(folder: Path, t: Thresholds) -> PairCache:
    """The kept cache of `t`'s model, or an empty one."""
    path = cache_path(folder, t)
    try:
        with np.load(path, allow_pickle=False) as z:
            head = z["head"]
            if int(head[0]) != FORMAT or not np.allclose(head[2:4], [t.low, t.high]):
                return PairCache()
            ids, prints = z["ids"].tolist(), z["fingerprints"].tolist()
            a, b, c = z["a"].tolist(), z["b"].tolist(), z["cos"].tolist()
            return PairCache(
                generation=int(head[1]),
                fingerprints={i: (fp or None) for i, fp in zip(ids, prints, strict=True)},
                pairs={(x, y): s for x, y, s in zip(a, b, c, strict=True)},
            )
    except FileNotFoundError:
        return PairCache()
    except (OSError, ValueError, KeyError, IndexError) as e:
        log.info("ignoring the duplicate pairs kept in %s: %s", path, e)
        return PairCache()


def save(folder: Path, t: Thresholds, cache: PairCache) -> None:
    """Keep the cache (atomically); a failure only costs a search through next time."""
    keys = list(cache.pairs)
    buf = io.BytesIO()
    np.savez(
        buf,
        head=np.asarray([FORMAT, cache.generation, t.low, t.high], dtype=np.float64),
        ids=np.asarray(list(cache.fingerprints), dtype=np.int64),
        fingerprints=np.asarray([fp or "" for fp in cache.fingerprints.values()], dtype=str),
        a=np.asarray([k[0] for k in keys], dtype=np.int64),
        b=np.asarray([k[1] for k in keys], dtype=np.int64),
        cos=np.asarray(list(cache.pairs.values()), dtype=np.float64),
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(cache_path(folder, t), buf.getvalue(), durable=False)
    except OSError as e:
        log.info("cannot keep the duplicate pairs in %s: %s", folder, e)
