"""Where every photo of a result list sits: justified rows under month or day headers.

Pure arithmetic over two flat lists (each photo's aspect ratio and its date key), no Qt, so the
view, its tests and bench/timeline.py share it. One pass, O(n): 100,000 photos lay out in about
a tenth of a second, cheap enough to redo on every resize or zoom (figures in bench/RESULTS.md).

Rows are filled greedily at the target height and then scaled to the exact width, taking or
leaving the photo that overflows by whichever keeps the row closer to the target (Flickr's and
Google Photos' justified layout). A section's last row keeps the target height, left aligned.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

MIN_ASPECT = 0.4  # a very tall photo is shown cropped, so it does not make a sliver
MAX_ASPECT = 3.0  # a panorama is cropped too, so it does not crush its row

NO_DATE = -1  # the date key of a photo without a date


def date_key(year: int, month: int, day: int) -> int:
    """20190714 for 14 July 2019: one int per photo, cheap to compare and group."""
    return year * 10000 + month * 100 + day


def clamp_aspect(width: int | None, height: int | None) -> float:
    """width / height within [MIN_ASPECT, MAX_ASPECT]; 1.0 when the size is not known."""
    if not width or not height or width <= 0 or height <= 0:
        return 1.0
    return min(MAX_ASPECT, max(MIN_ASPECT, width / height))


def month_label(key: int) -> str:
    """ "July 2019" for any key within that month, "No date" for NO_DATE."""
    if key == NO_DATE:
        return "No date"
    return f"{date(key // 10000, key // 100 % 100, 1):%B %Y}"


def day_label(key: int) -> str:
    """ "Sunday 14 July 2019" (no leading zero), "No date" for NO_DATE."""
    if key == NO_DATE:
        return "No date"
    when = date(key // 10000, key // 100 % 100, key % 100)
    return f"{when:%A} {when.day} {when:%B %Y}"


@dataclass(frozen=True)
class Metrics:
    """Sizes in logical pixels: the width to fill, the target row height, the gap between
    photos and around the edges, the header heights, and room for a caption under each row."""

    width: int
    row_height: int
    gap: int = 4
    margin: int = 8
    month_header: int = 44
    day_header: int = 34
    caption: int = 0


@dataclass
class Header:
    """A section title at `y`, `height` tall, over the photos `first` .. `end - 1`."""

    y: int
    height: int
    key: int  # the date key of the section's first photo (NO_DATE for undated)
    first: int
    end: int
    by_day: bool = False

    @property
    def text(self) -> str:
        """ "July 2019", or "Sunday 14 July 2019" for a day (made when painted, not laid out)."""
        return day_label(self.key) if self.by_day else month_label(self.key)


@dataclass
class TimelineLayout:
    """Rows ("lines") of photos and the headers between them, in content coordinates."""

    metrics: Metrics
    count: int = 0
    height: int = 0
    x: list[int] = field(default_factory=list)  # per photo
    w: list[int] = field(default_factory=list)  # per photo
    line_of: list[int] = field(default_factory=list)  # per photo: its line
    line_y: list[int] = field(default_factory=list)
    line_h: list[int] = field(default_factory=list)
    line_first: list[int] = field(default_factory=list)  # first photo of each line
    headers: list[Header] = field(default_factory=list)
    header_y: list[int] = field(default_factory=list)  # the headers' y, for bisecting

    def rect(self, item: int) -> tuple[int, int, int, int]:
        """(x, y, width, height) of photo `item`."""
        line = self.line_of[item]
        return self.x[item], self.line_y[line], self.w[item], self.line_h[line]

    def line_at(self, y: int) -> int:
        """The last line starting at or above `y` (0 when none does)."""
        return max(0, bisect_right(self.line_y, y) - 1)

    def line_items(self, line: int) -> range:
        end = self.line_first[line + 1] if line + 1 < len(self.line_first) else self.count
        return range(self.line_first[line], end)

    def line_from(self, y: int) -> int:
        """The first line that ends below `y` (the last line when none does)."""
        line = self.line_at(y)
        if self.line_y[line] + self.line_h[line] <= y and line + 1 < len(self.line_y):
            line += 1
        return line

    def items_between(self, top: int, bottom: int) -> range:
        """The photos on lines that overlap [top, bottom)."""
        if not self.count:
            return range(0)
        first, last = self.line_from(top), self.line_at(bottom - 1)
        if last < first:
            return range(0)
        return range(self.line_first[first], self.line_items(last).stop)

    def headers_between(self, top: int, bottom: int) -> list[Header]:
        start = max(0, bisect_right(self.header_y, top) - 1)
        out = []
        for header in self.headers[start:]:
            if header.y >= bottom:
                break
            if header.y + header.height > top:
                out.append(header)
        return out

    def header_at(self, y: int) -> Header | None:
        """The section the content line `y` is in (its header may be above `y`)."""
        i = bisect_right(self.header_y, y) - 1
        return self.headers[max(0, i)] if self.headers else None

    # -- questions the view asks (content coordinates) --------------------------------------------

    def item_at(self, x: int, y: int) -> int:
        """The photo under (x, y), or -1 (a header, a gap, the margin)."""
        if not self.count:
            return -1
        line = self.line_at(y)
        if not self.line_y[line] <= y < self.line_y[line] + self.line_h[line]:
            return -1
        for item in self.line_items(line):
            if self.x[item] <= x < self.x[item] + self.w[item]:
                return item
        return -1

    def items_in(self, left: int, top: int, right: int, bottom: int) -> list[int]:
        """The photos a rectangle touches (`right` and `bottom` exclusive), in order."""
        out = []
        for item in self.items_between(top, bottom):
            line = self.line_of[item]
            if (
                self.x[item] < right
                and left < self.x[item] + self.w[item]
                and self.line_y[line] < bottom
                and top < self.line_y[line] + self.line_h[line]
            ):
                out.append(item)
        return out

    def nearest_in_line(self, line: int, centre_x: int) -> int:
        """The photo of `line` whose middle is closest to `centre_x` (moving up or down)."""
        return min(self.line_items(line), key=lambda i: abs(self.x[i] + self.w[i] // 2 - centre_x))

    def step(self, item: int, move: str, page: int) -> int:
        """Where the keyboard goes from `item`: "previous"/"next" in order, "up"/"down" to the
        nearest photo in the row above or below, "page_up"/"page_down" a `page` of pixels,
        "home"/"end" to the first or last photo."""
        last = self.count - 1
        if move in ("previous", "next"):
            return max(0, min(last, item + (1 if move == "next" else -1)))
        if move in ("home", "end"):
            return 0 if move == "home" else last
        x, y, w, _h = self.rect(item)
        line = self.line_of[item]
        if move == "up":
            line = max(0, line - 1)
        elif move == "down":
            line = min(len(self.line_y) - 1, line + 1)
        else:
            line = self.line_at(max(0, y + (page if move == "page_down" else -page)))
        return self.nearest_in_line(line, x + w // 2)

    def top_of(self, item: int) -> int:
        """The y to scroll to to show `item`: its section's header too, when it opens one."""
        y = self.rect(item)[1]
        header = self.header_at(y)
        if header is not None and header.first == item:
            return header.y
        return y - self.metrics.gap

    def year_marks(self) -> list[tuple[int, str]]:
        """(y, "2019") where each year's first section starts ("No date" for the undated)."""
        marks: list[tuple[int, str]] = []
        for header in self.headers:
            year = "No date" if header.key == NO_DATE else str(header.key // 10000)
            if not marks or marks[-1][1] != year:
                marks.append((header.y, year))
        return marks


def sections(keys: Sequence[int] | None, count: int, by_day: bool) -> list[tuple[int, int, int]]:
    """(first, end, key) runs of photos sharing a month (or day); one run when `keys` is None."""
    if keys is None:
        return [(0, count, NO_DATE)] if count else []
    out: list[tuple[int, int, int]] = []
    div = 1 if by_day else 100
    start, current = 0, None
    for i in range(count):
        k = keys[i]
        group = k if k == NO_DATE else k // div
        if group != current:
            if current is not None:
                out.append((start, i, keys[start]))
            start, current = i, group
    if count:
        out.append((start, count, keys[start]))
    return out


def lay_out(
    aspects: Sequence[float],
    keys: Sequence[int] | None,
    metrics: Metrics,
    *,
    by_day: bool = False,
) -> TimelineLayout:
    """Lay `aspects` out in justified rows; with `keys` (newest first), under a header for each
    month (or day, `by_day`). Without keys: no headers, one run of rows."""
    count = len(aspects)
    out = TimelineLayout(metrics, count)
    xs, ws, line_of = [0] * count, [0] * count, [0] * count
    line_y, line_h, line_first = out.line_y, out.line_h, out.line_first
    gap, margin, target = metrics.gap, metrics.margin, float(metrics.row_height)
    inner = max(1, metrics.width - 2 * margin)
    y = margin if keys is None else 0
    header_h = metrics.day_header if by_day else metrics.month_header
    for first, end, key in sections(keys, count, by_day):
        if keys is not None:
            out.headers.append(Header(y, header_h, key, first, end, by_day))
            out.header_y.append(y)
            y += header_h
        i = first
        while i < end:
            # take photos until the row at the target height is as wide as the view
            total = 0.0
            j = i
            full = False
            while j < end:
                a = aspects[j]
                wide = (total + a) * target + (j - i) * gap
                if wide >= inner:
                    full = True
                    if j > i:  # keep the overflowing photo only if that is closer to the target
                        with_it = (inner - (j - i) * gap) / (total + a)
                        without = (inner - (j - i - 1) * gap) / total
                        if abs(with_it - target) < abs(without - target):
                            total += a
                            j += 1
                    else:
                        total += a
                        j += 1
                    break
                total += a
                j += 1
            n = j - i
            height = (inner - (n - 1) * gap) / total if full else target
            row_h = max(1, round(height)) + metrics.caption
            line_y.append(y)
            line_h.append(row_h)
            line_first.append(i)
            line = len(line_y) - 1
            cursor = float(margin)
            for k in range(i, j):
                left = round(cursor)
                cursor += aspects[k] * height
                right = round(cursor)
                if full and k == j - 1:
                    right = margin + inner  # the last photo ends exactly at the edge
                xs[k], ws[k], line_of[k] = left, max(1, right - left), line
                cursor += gap
            y += row_h + gap
            i = j
        y += margin if keys is not None else 0
    out.x, out.w, out.line_of = xs, ws, line_of
    out.height = y + (0 if keys is not None else margin - gap) if count else 0
    return out
