"""Places in the window, over a real library whose photos carry GPS EXIF: the place filter (country
> region > city, with counts, exact, combined with dates and words, kept between runs, refreshed
by indexing), the query chips, the Places view and the viewer's place, coordinates and map."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication
from qt_helpers import press, strict_qt_fixture, type_text  # noqa: F401

from app.core.library import Library
from app.core.paths import Paths
from app.core.places.gazetteer import Gazetteer
from app.core.search.query import PlaceFilter
from app.ui import theme
from app.ui.main_window import MainWindow
from app.ui.place_filter import LevelRole, place_tree
from app.ui.places_view import PlacesDialog
from app.ui.viewer import ViewerDialog

LISBON = (38.7223, -9.1393)
PORTO = (41.1579, -8.6291)
PARIS = (48.8566, 2.3522)
# (colour, shape, taken, position): 12 photos with a place, 4 without
SPECS = [
    ("red", "circle", datetime(2019, 6, 10, 12, 0), LISBON),
    ("red", "circle", datetime(2019, 6, 11, 9, 30), LISBON),
    ("blue", "square", datetime(2019, 6, 12, 18, 0), LISBON),
    ("green", "star", datetime(2019, 6, 12, 19, 0), LISBON),
    ("red", "circle", datetime(2021, 3, 2, 10, 0), LISBON),
    ("yellow", "triangle", datetime(2021, 3, 3, 10, 0), LISBON),
    ("red", "circle", datetime(2021, 8, 1, 16, 0), PORTO),
    ("blue", "star", datetime(2021, 8, 2, 16, 0), PORTO),
    ("red", "circle", datetime(2019, 9, 5, 11, 0), PARIS),
    ("green", "square", datetime(2019, 9, 6, 11, 0), PARIS),
    ("yellow", "star", datetime(2019, 9, 7, 11, 0), PARIS),
    ("blue", "circle", datetime(2019, 9, 8, 11, 0), PARIS),
    ("red", "circle", datetime(2019, 2, 1, 8, 0), None),
    ("green", "triangle", datetime(2023, 5, 1, 8, 0), None),
    ("yellow", "square", datetime(2021, 1, 1, 8, 0), None),
    ("blue", "triangle", datetime(2023, 7, 1, 8, 0), None),
]


def rationals(value: float) -> tuple[float, float, float]:
    """Degrees, minutes, seconds of `abs(value)`, as EXIF stores them."""
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)


def write_gps_photo(
    path: Path, image: Image.Image, when: datetime, where: tuple[float, float] | None
) -> Path:
    """A JPEG with EXIF DateTimeOriginal (no offset) and, with `where`, a GPS IFD."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    stamp = when.strftime("%Y:%m:%d %H:%M:%S")
    exif[0x010F], exif[0x0110] = "PhotoSeek", "Test Phone"
    exif.get_ifd(0x8769)[0x9003] = stamp
    if where is not None:
        lat, lon = where
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2] = ("N" if lat >= 0 else "S"), rationals(lat)
        gps[3], gps[4] = ("E" if lon >= 0 else "W"), rationals(lon)
    image.save(path, "JPEG", quality=90, exif=exif.tobytes())
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def make_photos(folder: Path, specs: list, start: int = 0) -> dict[str, tuple]:
    """Write `specs`; returns file name -> spec."""
    from microclip import make_shape_image

    rng = np.random.default_rng(start)
    out = {}
    for i, spec in enumerate(specs, start):
        color, shape, when, where = spec
        name = f"{color}-{shape}-{i:03d}.jpg"
        write_gps_photo(folder / name, make_shape_image(color, shape, 96, rng), when, where)
        out[name] = spec
    return out


def place_of(where: tuple[float, float]) -> PlaceFilter:
    """The place the gazetteer gives `where` (the truth the window is checked against)."""
    p = Gazetteer.shared().locate(*where)
    assert p is not None
    return PlaceFilter(p.country_code, p.region, p.city)


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths.at(tmp_path / "home").ensure()


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    return tmp_path / "Pictures"


@pytest.fixture
def truth(photo_dir: Path) -> dict[str, tuple]:
    return make_photos(photo_dir, SPECS)


@pytest.fixture
def library(paths: Paths, photo_dir: Path, truth, tiny_model_dir: Path) -> Library:
    lib = Library.open(paths, model_dir=tiny_model_dir, device="cpu")
    lib.add_folder(photo_dir)
    assert lib.index().added == len(SPECS)
    return lib


def settled(win: MainWindow) -> bool:
    return (
        not win.indexer.running
        and not win.searcher.busy()
        and win.model.generation == win.searcher.generation
    )


def open_window(qtbot, paths: Paths, library: Library, n: int = len(SPECS)) -> MainWindow:
    win = MainWindow(paths, library, welcome=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.model.total() == n and settled(win), timeout=30_000)
    return win


@pytest.fixture
def window(qtbot, paths: Paths, library: Library) -> Iterator[MainWindow]:
    win = open_window(qtbot, paths, library)
    yield win
    win.close()


def names(window: MainWindow) -> set[str]:
    return {Path(window.model.hit(r).path).name for r in range(window.model.total())}


def wanted(truth: dict, where=None, year: int | None = None, anywhere: bool = False) -> set[str]:
    return {
        name
        for name, (_c, _s, when, pos) in truth.items()
        if (anywhere or pos is not None)
        and (where is None or pos == where)
        and (year is None or when.year == year)
    }


def search(qtbot, window: MainWindow, action) -> None:
    before = window.searcher.generation
    action()
    qtbot.waitUntil(lambda: window.searcher.generation > before and settled(window), timeout=15_000)


def choose(qtbot, window: MainWindow, place: PlaceFilter | None) -> None:
    box = window.filters.place_box
    index = box.index_of(place)
    assert index >= 0, [box.itemText(i) for i in range(box.count())]
    search(qtbot, window, lambda: box.setCurrentIndex(index))


# -- the place filter --------------------------------------------------------------------------


def test_place_filter_offers_country_region_city_with_counts(qtbot, window):
    box = window.filters.place_box
    assert box.isVisible()
    lisbon, porto, paris = place_of(LISBON), place_of(PORTO), place_of(PARIS)
    gaz = Gazetteer.shared()
    expected = [
        ("All places (12)", None),
        (f"{gaz.country_name('FR')} (4)", 0),
        (f"{paris.region} (4)", 1),
        (f"{paris.city} (4)", 2),
        (f"{gaz.country_name('PT')} (8)", 0),
    ]
    portugal = sorted([(lisbon, 6), (porto, 2)], key=lambda pn: str(pn[0].region).casefold())
    for place, n in portugal:
        expected += [(f"{place.region} ({n})", 1), (f"{place.city} ({n})", 2)]
    assert [(box.itemText(i), box.itemData(i, LevelRole)) for i in range(box.count())] == expected
    # a region's line filters by the region, a country's by the country
    assert [n.place for n in box.nodes if n.level < 2] == [
        PlaceFilter("FR"),
        PlaceFilter("FR", paris.region),
        PlaceFilter("PT"),
        *(PlaceFilter("PT", p.region) for p, _ in portugal),
    ]


def test_place_filter_is_exact_and_combines_with_year_and_words(qtbot, window, truth):
    lisbon = place_of(LISBON)
    choose(qtbot, window, lisbon)
    assert names(window) == wanted(truth, LISBON)
    assert window.filters.describe().startswith("in Lisbon")
    choose(qtbot, window, PlaceFilter(lisbon.country))  # the country: Lisbon and Porto
    assert names(window) == wanted(truth, LISBON) | wanted(truth, PORTO)
    window.filters.set_years([(2019, 1), (2021, 1)], select=2021)
    search(qtbot, window, window.search_now)
    assert names(window) == wanted(truth, LISBON, 2021) | wanted(truth, PORTO, 2021)
    window.settings.all_matches = True  # every photo ranked: the filter alone decides the set
    search(qtbot, window, lambda: window.search_bar.set_text("a red circle"))
    assert names(window) == wanted(truth, LISBON, 2021) | wanted(truth, PORTO, 2021)
    assert Path(window.model.hit(0).path).name.startswith("red-circle")
    choose(qtbot, window, None)  # all places again
    assert names(window) == wanted(truth, year=2021, anywhere=True)


def test_the_place_is_kept_between_runs(qtbot, paths, library, truth, tiny_model_dir):
    win = open_window(qtbot, paths, library)
    choose(qtbot, win, place_of(PARIS))
    assert names(win) == wanted(truth, PARIS)
    win.close()  # closes the library too
    again = Library.open(paths, model_dir=tiny_model_dir, device="cpu")
    win = open_window(qtbot, paths, again, n=4)
    assert win.filters.place() == place_of(PARIS)
    assert names(win) == wanted(truth, PARIS)
    win.close()


def test_indexing_new_photos_refreshes_the_places(qtbot, window, photo_dir, truth):
    porto = place_of(PORTO)
    before = window.filters.place_box.nodes
    assert next(n.count for n in before if n.place == porto) == 2
    added = make_photos(
        photo_dir / "new", [("red", "square", datetime(2024, 1, 5, 9, 0), PORTO)], start=100
    )
    window.session.rescan()
    qtbot.waitUntil(
        lambda: window.model.total() == len(SPECS) + 1 and settled(window), timeout=30_000
    )
    qtbot.waitUntil(
        lambda: next(n.count for n in window.filters.place_box.nodes if n.place == porto) == 3
    )
    choose(qtbot, window, porto)
    assert names(window) == wanted({**truth, **added}, PORTO)


def test_a_library_without_gps_looks_as_before(qtbot, paths, tmp_path, tiny_model_dir):
    folder = tmp_path / "NoGps"
    make_photos(folder, [(*s[:3], None) for s in SPECS[:6]])
    lib = Library.open(paths, model_dir=tiny_model_dir, device="cpu")
    lib.add_folder(folder)
    lib.index()
    win = open_window(qtbot, paths, lib, n=6)
    assert not win.filters.place_box.isVisible() and win.filters.place() is None
    search(qtbot, win, lambda: win.search_bar.set_text("a red circle in Lisbon 2019"))
    assert win.chips.labels() == ["2019"]  # no place is invented; the year still filters
    dialog = win.user_actions.show_places()
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.loaded)
    assert dialog.stack.currentWidget() is dialog.empty and "No photo has a place" in (
        dialog.empty.text()
    )
    dialog.reject()
    win.close()


def test_place_tree_puts_regionless_places_under_their_country():
    from app.core.api import PlaceCount

    rows = [
        PlaceCount(PlaceFilter("SG", None, "Singapore"), "Singapore", None, "Singapore", 3, 9),
        PlaceCount(PlaceFilter("PT", "Lisbon", None), "Portugal", "Lisbon", None, 2, 4),
        PlaceCount(PlaceFilter("PT", "Lisbon", "Sintra"), "Portugal", "Lisbon", "Sintra", 5, 7),
    ]
    tree = [(n.level, n.name, n.count, n.cover_id) for n in place_tree(rows)]
    assert tree == [
        (0, "Portugal", 7, 7),
        (1, "Lisbon", 7, 7),  # its own 2 (no city) and Sintra's 5
        (2, "Sintra", 5, 7),
        (0, "Singapore", 3, 9),
        (1, "Singapore", 3, 9),  # a city right under its country
    ]


def test_place_labels_tell_twins_apart():
    from app.core.api import PlaceCount

    us = "United States"
    rows = [
        PlaceCount(
            PlaceFilter("US", "Illinois", "Springfield"), us, "Illinois", "Springfield", 1, 1
        ),
        PlaceCount(
            PlaceFilter("US", "Missouri", "Springfield"), us, "Missouri", "Springfield", 1, 2
        ),
        PlaceCount(PlaceFilter("US", "New York", "New York"), us, "New York", "New York", 4, 3),
    ]
    assert [n.label for n in place_tree(rows)] == [
        us,
        f"Illinois, {us}",
        f"Springfield, Illinois, {us}",
        f"Missouri, {us}",
        f"Springfield, Missouri, {us}",
        f"New York (region), {us}",
        f"New York, {us}",
    ]


# -- chips -------------------------------------------------------------------------------------


def test_a_typed_place_and_year_become_chips_that_can_be_removed(qtbot, window, truth):
    window.settings.all_matches = True
    lisbon = place_of(LISBON)
    search(qtbot, window, lambda: type_text(window.search_bar.edit, "a red circle in Lisbon 2019"))
    qtbot.waitUntil(lambda: window.chips.isVisible())
    label = f"{lisbon.city}, {Gazetteer.shared().country_name('PT')}"
    assert window.chips.labels() == [label, "2019"]
    assert "“a red circle”" in window.chips.rest.text()
    assert names(window) == wanted(truth, LISBON, 2019)
    assert Path(window.model.hit(0).path).name.startswith("red-circle")
    assert window.filters.place() is None  # the filter box is not touched by the words
    # Messages name the words left and the understood place and year, not the typed text.
    assert window._facts.query_label == "a red circle"
    assert window._facts.filter_label == f"in {label} in 2019"
    place_chip = window.chips.chips[0]
    search(qtbot, window, lambda: qtbot.mouseClick(place_chip.remove, Qt.MouseButton.LeftButton))
    assert window.chips.labels() == ["2019"]
    assert "“a red circle in Lisbon”" in window.chips.rest.text()  # the words went back
    assert names(window) == wanted(truth, year=2019, anywhere=True)
    # typing on keeps the removed chip removed; clearing the field forgets that
    search(qtbot, window, lambda: type_text(window.search_bar.edit, " "))
    assert window.chips.labels() == ["2019"]
    search(qtbot, window, lambda: press(window.search_bar.edit, Qt.Key.Key_Escape))
    assert not window.chips.isVisible() and window.model.total() == len(SPECS)
    search(qtbot, window, lambda: window.search_bar.set_text("Lisbon"))
    assert window.chips.labels() == [label]  # only a place: its photos, newest first
    assert names(window) == wanted(truth, LISBON)
    assert window.chips.rest.text() == "newest first"


def test_chips_are_readable_in_an_800_px_window(qtbot, window, tmp_path):
    window.resize(800, 600)
    search(qtbot, window, lambda: window.search_bar.set_text("a red circle in Paris 2019"))
    qtbot.waitUntil(lambda: window.chips.isVisible())
    QApplication.processEvents()
    right = window.width()
    for chip in window.chips.chips:
        top_left = chip.mapTo(window, QPoint(0, 0))
        assert top_left.x() >= 0 and top_left.x() + chip.width() <= right
        assert chip.label.text() == chip.chip.label  # nothing elided
        assert chip.remove.isVisible() and chip.remove.width() >= 12
    assert window.search_bar.edit.width() >= 150
    window.grab().save(str(tmp_path / "chips-800.png"))


# -- the Places view ---------------------------------------------------------------------------


def test_places_view_lists_places_with_covers_and_shows_the_chosen_one(qtbot, window, truth):
    action = next(a for a in window.actions() if a.text() == "&Places…")
    action.trigger()
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), PlacesDialog))
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, PlacesDialog)
    qtbot.waitUntil(lambda: dialog.loaded)
    lisbon, porto, paris = place_of(LISBON), place_of(PORTO), place_of(PARIS)
    assert dialog.visible_places() == [paris.city, lisbon.city, porto.city]
    assert dialog.summary.text() == "3 places in 2 countries · 12 photos"
    tree = dialog.tree
    counts = {
        tree.topLevelItem(i).text(0): tree.topLevelItem(i).text(2)
        for i in range(tree.topLevelItemCount())
    }
    gaz = Gazetteer.shared()
    assert counts == {gaz.country_name("FR"): "4", gaz.country_name("PT"): "8"}
    pin = theme.icon("place").cacheKey()  # what a place shows until its cover arrives
    qtbot.waitUntil(lambda: dialog.loader.pending() == 0)
    qtbot.waitUntil(
        lambda: all(
            tree.topLevelItem(i).child(j).icon(0).cacheKey() != pin
            for i in range(tree.topLevelItemCount())
            for j in range(tree.topLevelItem(i).childCount())
        )
    )
    type_text(dialog.find_field, "porto")
    assert dialog.visible_places() == [porto.city]
    item = tree.topLevelItem(1).child(1)
    assert item.text(0) == porto.city
    tree.setCurrentItem(item)
    search(qtbot, window, dialog.show_button.click)
    assert not isinstance(QApplication.activeModalWidget(), PlacesDialog)  # closed
    assert window.filters.place() == porto and window.search_bar.text() == ""
    assert names(window) == wanted(truth, PORTO)


# -- the viewer ---------------------------------------------------------------------------------


def open_viewer(qtbot, window: MainWindow, name: str) -> ViewerDialog:
    row = next(
        r for r in range(window.model.total()) if Path(window.model.hit(r).path).name == name
    )
    window.grid.setFocus()
    window.grid.setCurrentIndex(window.model.index(row, 0))
    press(window.grid, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), ViewerDialog))
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, ViewerDialog)
    qtbot.waitUntil(lambda: dialog.details["Pixels"].text() == "96 × 96 px")
    return dialog


def test_viewer_shows_place_coordinates_and_opens_the_map_only_on_click(
    qtbot, window, truth, monkeypatch
):
    opened: list[str] = []

    def open_url(url: QUrl) -> bool:
        opened.append(url.toString())
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", open_url)
    lisbon_name = next(n for n, s in truth.items() if s[3] == LISBON and s[2].month == 6)
    dialog = open_viewer(qtbot, window, lisbon_name)
    info = dialog.info
    lisbon = place_of(LISBON)
    qtbot.waitUntil(lambda: info.details["Place"].isVisible())
    assert info.details["Place"].text() == f"{lisbon.city}, {Gazetteer.shared().country_name('PT')}"
    assert info.details["Coordinates"].text() == "38.7223° N, 9.1393° W"
    # June in Lisbon: summer time, derived from where it was taken (EXIF gave no offset)
    assert info.details["Taken"].text().endswith("(UTC+01:00, time zone from location)")
    assert info.map_button.isVisible() and opened == []  # nothing handed out before the click
    qtbot.mouseClick(info.map_button, Qt.MouseButton.LeftButton)
    url = "https://www.openstreetmap.org/?mlat=38.72230&mlon=-9.13930#map=14/38.72230/-9.13930"
    assert opened == [url]
    assert not info.map_note.isVisible()
    # no browser: the link goes on the clipboard and the panel says so
    monkeypatch.setattr(
        QDesktopServices, "openUrl", lambda u: opened.append(u.toString()) and False
    )
    qtbot.mouseClick(info.map_button, Qt.MouseButton.LeftButton)
    assert info.map_note.isVisible() and url in info.map_note.text()
    assert QGuiApplication.clipboard().text() == url
    QGuiApplication.clipboard().clear()
    # a photo without GPS: no place rows, no map button
    plain = next(n for n, s in truth.items() if s[3] is None)
    row = next(
        r for r in range(window.model.total()) if Path(window.model.hit(r).path).name == plain
    )
    dialog.go_to(row)
    qtbot.waitUntil(lambda: info.details["Pixels"].text() == "96 × 96 px")
    assert not info.details["Place"].isVisible() and not info.details["Coordinates"].isVisible()
    assert not info.map_button.isVisible()
    assert "time zone from location" not in info.details["Taken"].text()
    assert re.search(r"\d\d:\d\d", info.details["Taken"].text())
    assert not info.map_note.isVisible()
    dialog.reject()
    assert len(opened) == 2  # the two clicks, nothing else
