"""What a typed query means besides its words: "beach in Lisbon 2019" is the semantic query
"beach", the place filter Lisbon and the year filter 2019.

The parser only takes what it is sure of, and says what it took (`Chip`s, which the window
shows as removable chips and the CLI prints), so a wrong guess costs one click:
- a year is a free-standing 1900-2099 ("2019"), a month a month name next to a year or after
  "in" ("June 2019", "in June"); quoted phrases and "-word" exclusions are never touched;
- a place is a name the gazetteer knows (any of its languages) that is written like a name
  (capitalised, in a non-Latin script, or after "in", "at", "near", "from", "around") and is
  where some of the library's photos were taken. Places absent from the library are taken only
  when they are countries or cities of over 100,000 people named after such a preposition:
  "beach in Lisbon" with no Lisbon photos still filters (and shows none, honestly), while
  "Reading glasses" or "Nice sunset" stay words;
- ambiguous names prefer places in the library (the one with most photos; a country over a
  city over a region of the same name), then the most populous; a following ", Texas" or
  "France" picks among them ("Paris, Texas");
- `ignore` holds spans the user removed: those words stay in the semantic query.
Just over 400 lines: the year, month and place readers share the words, their spans and what
is taken, and read best together.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from app.core.places.gazetteer import Place
from app.core.places.names import fold
from app.core.search.query import PlaceFilter

if TYPE_CHECKING:
    from app.core.places.names import PlaceNames

# After these a known name is a place ("beach in Lisbon"); a few other languages' too.
PREPOSITIONS = frozenset({"in", "at", "near", "from", "around", "to", "en", "à", "im", "bei", "em"})
MONTHS = {
    name: i + 1
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        )
    )
    for name in names
}
BIG_CITY = 100_000  # an absent city this large is still taken after "in" (see the docstring)
MIN_AROUND_KM, MAX_AROUND_KM = 3.0, 20.0  # a big city's surroundings (around_city)
MAX_WORDS = 4  # the longest place name tried ("Rio de Janeiro", "Saint-Martin-de-Ré")
_YEAR = re.compile(r"(19|20)\d\d")
# A word: a quoted phrase, or a run without spaces. Spans are character offsets in the text.
_WORD = re.compile(r'-?"[^"]*"?|\S+')
_EDGE = ",.;:!?()[]{}"


@dataclass(frozen=True)
class Chip:
    """One understood part of a query: what it became (`label`, e.g. "Lisbon, Portugal") and
    the words it came from as typed (`span`, e.g. "in Lisbon"), which `ignore` takes back."""

    kind: Literal["place", "year", "month"]
    label: str
    span: str


@dataclass(frozen=True)
class Understanding:
    """The query's words left for the model (`text`, "" when nothing is left) and the filters
    it named; `chips` in the order they appear in the text."""

    text: str
    place: PlaceFilter | None = None
    year: int | None = None
    month: int | None = None
    chips: tuple[Chip, ...] = ()


@dataclass
class _Word:
    start: int
    end: int
    raw: str  # as typed, edge punctuation stripped
    plain: bool  # neither quoted nor an exclusion
    comma_after: bool


PresentPlace = tuple[str, str | None, str | None, int]  # country, region, city, photo count


def understand(
    text: str | None,
    names: PlaceNames | None,
    present: Iterable[PresentPlace],
    *,
    ignore: Collection[str] = (),
    take: Collection[str] = ("place", "year", "month"),
    around: Callable[[PlaceFilter], int] | None = None,
) -> Understanding:
    """Parse `text` (see the module docstring). `present` lists the library's places with
    their photo counts (Catalog.places); `names` None: no places are understood. `take`: the
    kinds to look for (a filter the user set explicitly, such as the CLI's --year, is not
    taken from the text as well). `around`: how many of the library's items pass a filter
    (a big city's surroundings: `around_city`), None to use the place names alone."""
    if not text or not text.strip():
        return Understanding(text="")
    skip = {fold(s) for s in ignore}
    words = _words(text)
    taken: list[tuple[int, int, Chip]] = []  # (first word, last word, chip)
    used: set[int] = set()
    year = _find_year(words, used, skip, taken) if "year" in take else None
    month = _find_month(words, used, skip, taken, year is not None) if "month" in take else None
    place = None
    if names is not None and "place" in take:
        place = _find_place(words, used, skip, taken, names, _Presence(present, around))
    if not taken:
        return Understanding(text=text.strip())
    cut = sorted((words[a].start, words[b].end) for a, b, _ in taken)
    rest, pos = [], 0
    for start, end in cut:
        rest.append(text[pos:start])
        pos = end
    rest.append(text[pos:])
    left = " ".join("".join(rest).split()).strip(" ,;")
    chips = tuple(chip for _, _, chip in sorted(taken, key=lambda t: t[0]))
    return Understanding(text=left, place=place, year=year, month=month, chips=chips)


def _words(text: str) -> list[_Word]:
    out = []
    for m in _WORD.finditer(text):
        token = m.group(0)
        plain = not token.startswith(("-", '"'))
        raw = token.strip(_EDGE) if plain else token
        lead = len(token) - len(token.lstrip(_EDGE)) if plain else 0
        start = m.start() + lead
        end = start + len(raw) if plain and raw else m.end()
        out.append(_Word(start, end, raw, plain and bool(raw), token.rstrip().endswith(",")))
    return out


def _free(words: list[_Word], used: set[int], i: int) -> bool:
    return 0 <= i < len(words) and i not in used and words[i].plain


def _span(words: list[_Word], a: int, b: int, text_of: str | None = None) -> str:
    return " ".join(w.raw for w in words[a : b + 1]) if text_of is None else text_of


def _find_year(
    words: list[_Word], used: set[int], skip: set[str], taken: list[tuple[int, int, Chip]]
) -> int | None:
    for i, w in enumerate(words):
        if _free(words, used, i) and _YEAR.fullmatch(w.raw) and fold(w.raw) not in skip:
            a = i - 1 if _free(words, used, i - 1) and words[i - 1].raw.lower() == "in" else i
            used.update(range(a, i + 1))
            taken.append((a, i, Chip("year", w.raw, _span(words, a, i))))
            return int(w.raw)
    return None


def _find_month(
    words: list[_Word],
    used: set[int],
    skip: set[str],
    taken: list[tuple[int, int, Chip]],
    has_year: bool,
) -> int | None:
    for i, w in enumerate(words):
        number = MONTHS.get(w.raw.lower().rstrip("."))
        if number is None or not _free(words, used, i):
            continue
        next_to_year = has_year and any(
            c.kind == "year" and (a == i + 1 or b == i - 1) for a, b, c in taken
        )
        after_in = _free(words, used, i - 1) and words[i - 1].raw.lower() == "in"
        # "may" and "march" are also verbs: only capitalised, or right beside the year.
        verb_like = w.raw.lower() in ("may", "march", "mar") and not w.raw[:1].isupper()
        if not (next_to_year or (after_in and not verb_like)) or (verb_like and not next_to_year):
            continue
        a = i - 1 if after_in else i
        span = _span(words, a, i)
        if fold(span) in skip or fold(w.raw) in skip:
            continue
        used.update(range(a, i + 1))
        label = _MONTH_NAMES[number - 1]
        taken.append((a, i, Chip("month", label, span)))
        return number
    return None


_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class _Presence:
    """The library's places, for "is this place in the library, and how much"."""

    def __init__(
        self, present: Iterable[PresentPlace], around: Callable[[PlaceFilter], int] | None = None
    ) -> None:
        self.around = around
        self.countries: dict[str, int] = {}
        self.regions: dict[tuple[str, str], int] = {}
        self.cities: dict[tuple[str, str], list[tuple[str | None, int]]] = {}
        for country, region, city, count in present:
            self.countries[country] = self.countries.get(country, 0) + count
            if region:
                key = (country, region)
                self.regions[key] = self.regions.get(key, 0) + count
            if city:
                self.cities.setdefault((country, city), []).append((region, count))

    def count_and_filter(self, p: Place) -> tuple[int, PlaceFilter]:
        """The library's items at `p` and the filter that finds them: its name, or for a big
        city, its surroundings where they hold more (`around_city`)."""
        exact = PlaceFilter(p.country_code, p.region, p.city)
        n = self.count(p)
        if self.around is None or not p.city or p.population < BIG_CITY:
            return n, exact
        wide = around_city(p)
        m = self.around(wide) if p.country_code in self.countries else 0
        return (m, wide) if m > n else (n, exact)

    def count(self, p: Place) -> int:
        if p.city:
            rows = self.cities.get((p.country_code, p.city), [])
            return sum(n for region, n in rows if p.region is None or region in (p.region, None))
        if p.region:
            return self.regions.get((p.country_code, p.region), 0)
        return self.countries.get(p.country_code, 0)


def _find_place(
    words: list[_Word],
    used: set[int],
    skip: set[str],
    taken: list[tuple[int, int, Chip]],
    names: PlaceNames,
    presence: _Presence,
) -> PlaceFilter | None:
    for size in range(MAX_WORDS, 0, -1):
        for a in range(len(words) - size + 1):
            b = a + size - 1
            if not all(_free(words, used, i) for i in range(a, b + 1)):
                continue
            if any(words[i].comma_after for i in range(a, b)):
                continue  # "Paris, Texas" is a name and its qualifier, not one name
            phrase = " ".join(w.raw for w in words[a : b + 1])
            if fold(phrase) in skip:
                continue
            prep = _free(words, used, a - 1) and words[a - 1].raw.lower() in PREPOSITIONS
            if not (prep or size > 1 or _looks_like_name(words[a].raw)):
                continue
            if fold(phrase) in _COMMON and not prep:
                continue
            candidates = list(names.lookup(phrase))
            if not candidates:
                continue
            b, candidates = _qualify(words, used, b, candidates, names)
            choice = _choose(candidates, presence, prep)
            if choice is None:
                continue
            best, chosen = choice
            first = a - 1 if prep else a
            span = _span(words, first, b)
            if fold(span) in skip:
                continue
            used.update(range(first, b + 1))
            taken.append((first, b, Chip("place", _label(best), span)))
            return chosen
    return None


def _qualify(
    words: list[_Word],
    used: set[int],
    b: int,
    candidates: list[Place],
    names: PlaceNames,
) -> tuple[int, list[Place]]:
    """ "Paris, Texas" / "Paris France": a following region or country that names where one of
    the candidates is narrows them to those, and joins the span."""
    for size in range(min(3, MAX_WORDS), 0, -1):
        end = b + size
        if not all(_free(words, used, i) for i in range(b + 1, end + 1)):
            continue
        phrase = " ".join(w.raw for w in words[b + 1 : end + 1])
        wider = names.lookup(phrase)
        keep = [
            c
            for c in candidates
            if any(
                w.city is None
                and w.country_code == c.country_code
                and (w.region is None or fold(w.region) == fold(c.region or ""))
                for w in wider
            )
        ]
        if keep:
            return end, keep
    return b, candidates


def _choose(
    candidates: list[Place], presence: _Presence, prep: bool
) -> tuple[Place, PlaceFilter] | None:
    """Among the candidates in the library, a country over a city over a region, then the one
    with most photos; else, after a preposition, a country or a big city (most populous
    first); else none. A big city whose surroundings hold more of the library than its own
    name (its photos placed in its neighbourhoods: el Raval, Eixample) means its surroundings."""
    counted = [(*presence.count_and_filter(c), c) for c in candidates]
    here = [t for t in counted if t[0] > 0]
    if here:
        _, chosen, best = max(here, key=lambda t: (_level(t[2]), t[0], t[2].population))
        return best, chosen
    if not prep:
        return None
    known = [c for c in candidates if c.city is None and c.region is None]
    known += [c for c in candidates if c.city and c.population >= BIG_CITY]
    big = max(known, key=lambda c: (c.city is None, c.population), default=None)
    return None if big is None else (big, PlaceFilter(big.country_code, big.region, big.city))


def around_city(place: Place) -> PlaceFilter:
    """A big city's surroundings: its country's photos within a radius growing with its
    population (Lisbon 6 km, Barcelona 11 km, at most 20 km)."""
    km = min(MAX_AROUND_KM, max(MIN_AROUND_KM, 2.0 * math.sqrt(place.population / 50_000)))
    return PlaceFilter(
        place.country_code, place.region, place.city, near=(place.lat, place.lon, km)
    )


def _level(p: Place) -> int:
    """A country over a city over a region when a name is several of them in the library
    ("Singapore"; "Lisbon" the city, not its district), as `--place` resolves it (places.py).
    The gazetteer folds a city's neighbourhoods into it, so the city holds Alfama and Belém."""
    return 2 if p.city is None and p.region is None else 1 if p.city is not None else 0


def _label(p: Place) -> str:
    if p.city:
        return f"{p.city}, {p.country}"
    if p.region:
        return f"{p.region}, {p.country}"
    return p.country


def _looks_like_name(word: str) -> bool:
    first = word[:1]
    return first.isupper() or (first.isalpha() and not first.isascii() and not first.islower())


# Place names that are far more often plain words at the start of a query or anywhere in it;
# they count as places only after a preposition ("sunset in Nice").
_COMMON = frozenset(
    {"nice", "reading", "bath", "mobile", "orange", "split", "cork", "sale", "beach", "sunset",
     "rainbow", "paradise", "hope", "victoria", "florence", "chad", "turkey", "jordan", "china",
     "georgia", "man", "of", "the", "a", "on", "snow", "winter", "spring", "summer", "autumn",
     "fall", "dog", "cat", "lake", "mountain", "river", "park", "garden", "church", "castle",
     "bridge", "harbor", "harbour", "marina", "center", "centre", "university", "zoo", "home"}
)  # fmt: skip
