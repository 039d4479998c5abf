"""The places in a library, by name: counts for the filter and the Places view, a typed place
("Lisbon", "Lisbon, Portugal", "Portugal", "PT", "Lissabon") resolved to the filter that finds
it, and the label a place is shown with.

Only places where some photo was taken resolve: a filter for anywhere else would show nothing,
so an unknown name gets the closest names in the library instead. A name that fits several
places (a city and the region named after it, Paris in France and in Texas) means the city over
the region over the country spelled the same, then the one with the most photos.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.core.catalog.places import PlaceRow
from app.core.search.query import PlaceFilter, QueryError

SUGGESTIONS = 3  # closest names offered for an unknown place


class NamedPlace(Protocol):
    """What is read of a gazetteer place found by another language's name."""

    @property
    def country_code(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...


@dataclass(frozen=True)
class PlaceCount:
    """One place in the library (a city, with its region and country), how many photos and
    videos were taken there and the newest of them (`cover_id`, its thumbnail)."""

    place: PlaceFilter
    country_name: str
    region: str | None
    city: str | None
    count: int
    cover_id: int

    @property
    def label(self) -> str:
        """ "Lisbon, Portugal"; the region where the place has no city."""
        return ", ".join(p for p in (self.city or self.region, self.country_name) if p)


def place_counts(rows: Sequence[PlaceRow], country_name: Callable[[str], str]) -> list[PlaceCount]:
    """The catalog's place rows with their countries' names, by country, region, city."""
    out = [
        PlaceCount(
            PlaceFilter(r.country, r.region, r.city),
            country_name(r.country),
            r.region,
            r.city,
            r.total,
            r.cover_id,
        )
        for r in rows
    ]
    return sorted(out, key=lambda p: (fold(p.country_name), fold(p.region), fold(p.city)))


def fold(text: str | None) -> str:
    """Case- and accent-insensitive form of a name ("Zürich" and "zurich" agree)."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def resolve(
    text: str,
    counts: Sequence[PlaceCount],
    lookup: Callable[[str], Sequence[NamedPlace]] | None = None,
) -> PlaceFilter:
    """The filter for a typed place among the library's places; QueryError naming the closest
    ones when no place of the library has that name. `lookup` finds other languages' names."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise QueryError("Name a place, e.g. --place Lisbon or --place Portugal.")
    if not counts:
        raise QueryError(
            f"No photo in your library has a place yet, so {text.strip()!r} cannot be found "
            "(places come from the GPS position photos carry)."
        )
    found = _matching(parts, counts)
    if not found and lookup is not None:
        found = _by_other_names(text.strip(), counts, lookup)
    if not found:
        raise QueryError(f"No photos taken in {text.strip()!r}. {_closest(text, counts)}")
    return found


def _matching(parts: list[str], counts: Sequence[PlaceCount]) -> PlaceFilter | None:
    """The place whose names the comma-separated parts give, most specific first."""
    head, rest = fold(parts[0]), [fold(p) for p in parts[1:]]
    code = parts[0] if len(parts) == 1 and len(parts[0]) == 2 and parts[0].isupper() else None
    if code is not None and any(c.place.country == code for c in counts):  # an ISO code: "PT"
        return PlaceFilter(code)
    within = [c for c in counts if all(_names(c, r) for r in rest)]
    for level in ("city", "region", "country"):
        hits = [c for c in within if _level(c, level) == head]
        if not hits:
            continue
        best = max(hits, key=lambda c: _total(counts, c, level))
        if level == "city":
            return best.place
        if level == "region":
            return PlaceFilter(best.place.country, best.region)
        return PlaceFilter(best.place.country)
    return None


def _level(c: PlaceCount, level: str) -> str:
    if level == "city":
        return fold(c.city)
    if level == "region":
        return fold(c.region)
    return fold(c.country_name)


def _names(c: PlaceCount, part: str) -> bool:
    """Whether a qualifier ("Portugal", "PT", "Texas") names this place's region or country."""
    return part in (fold(c.region), fold(c.country_name), fold(c.place.country))


def _total(counts: Sequence[PlaceCount], c: PlaceCount, level: str) -> int:
    """Photos in `c`'s region (or country) when choosing among regions (or countries)."""
    if level == "city":
        return c.count
    same = [
        o.count
        for o in counts
        if o.place.country == c.place.country and (level == "country" or o.region == c.region)
    ]
    return sum(same)


def _by_other_names(
    text: str, counts: Sequence[PlaceCount], lookup: Callable[[str], Sequence[NamedPlace]]
) -> PlaceFilter | None:
    """A name in another language ("Lissabon") that names a place of the library."""
    present = {(c.place.country, c.region, c.city): c for c in counts}
    best: PlaceCount | None = None
    for p in lookup(text):
        if p.city is not None and (p.country_code, p.region, p.city) in present:
            hit = present[(p.country_code, p.region, p.city)]
            if best is None or hit.count > best.count:
                best = hit
    if best is not None:
        return best.place
    for p in lookup(text):  # a country or region by another name
        if p.city is None:
            same = [c for c in counts if c.place.country == p.country_code]
            if p.region is not None:
                same = [c for c in same if c.region == p.region]
            if same:
                return PlaceFilter(p.country_code, p.region)
    return None


def _closest(text: str, counts: Sequence[PlaceCount]) -> str:
    """ "Closest places in your library: Lisbon, Porto." (or the biggest ones)."""
    labels: dict[str, str] = {}
    for c in sorted(counts, key=lambda c: -c.count):
        for name in (c.city, c.region, c.country_name):
            if name:
                labels.setdefault(fold(name), name)
    close = difflib.get_close_matches(fold(text.split(",")[0]), list(labels), SUGGESTIONS, 0.5)
    if close:
        return "Closest places in your library: " + ", ".join(labels[k] for k in close) + "."
    top = list(labels.values())[:SUGGESTIONS]
    return "Places in your library include " + ", ".join(top) + "."


def label(place: PlaceFilter, counts: Sequence[PlaceCount], country_name: str) -> str:
    """How a place is shown: "Lisbon, Portugal"; "Springfield, Illinois, United States" where
    the library has two cities of that name in the country; "Portugal" for a country."""
    if place.city is None:
        return ", ".join(p for p in (place.region, country_name) if p)
    twins = {c.region for c in counts if c.place.country == place.country and c.city == place.city}
    region = place.region if place.region is not None and len(twins) > 1 else None
    return ", ".join(p for p in (place.city, region, country_name) if p)
