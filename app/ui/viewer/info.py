"""The viewer's metadata panel: when the photo was taken and where that date comes from, where
it was taken (place, coordinates, Open in Map), a video's length, its pixel and file size, the
camera, and where the file is."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPalette
from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.core.api import GUESSED_SOURCES, Photo
from app.ui import theme
from app.ui.captions import format_date, format_time

PANEL_WIDTH = 270
GUESS_NOTE = " (file date: no capture date in the photo)"
ZONE_NOTE = "time zone from location"  # the offset was derived from where it was taken
MAP_URL = "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=14/{lat}/{lon}"

# Where a capture date was read from, as the panel names it (`Photo.capture_source`).
DATE_SOURCES = {
    "exif_original": "the camera (EXIF, date taken)",
    "exif_digitized": "the camera (EXIF, date digitized)",
    "exif_datetime": "EXIF (date last changed)",
    "xmp": "XMP metadata",
    "iptc": "IPTC metadata",
    "gps_utc": "the GPS time in the photo",
    "file_mtime": "the file's modification time: the photo records no capture date",
    "video_container": "the video's creation time (its container)",
    "video_apple": "the video's creation date (Apple QuickTime)",
}
ROWS = (
    "Taken",
    "Date from",
    "Place",
    "Coordinates",
    "Length",
    "Pixels",
    "File size",
    "Camera",
    "Folder",
)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def taken_text(photo: Photo) -> str:
    """ "4 May 2021, 09:30", with a note when the date is only the file's."""
    when = format_date(photo.capture_time)
    if photo.capture_time is not None:
        when += f", {photo.capture_time:%H:%M}"
        if photo.capture_offset and photo.offset_derived:
            when += f" (UTC{photo.capture_offset}, {ZONE_NOTE})"
        elif photo.capture_offset:
            when += f" (UTC{photo.capture_offset})"
        if photo.capture_source in GUESSED_SOURCES:
            when += GUESS_NOTE
    return when


def coordinates_text(lat: float, lon: float) -> str:
    """ "38.7223° N, 9.1393° W" """
    return f"{abs(lat):.4f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.4f}° {'E' if lon >= 0 else 'W'}"


def map_url(lat: float, lon: float) -> str:
    """The position on OpenStreetMap (a marker, zoomed to streets)."""
    return MAP_URL.format(lat=f"{lat:.5f}", lon=f"{lon:.5f}")


def source_text(photo: Photo) -> str:
    if photo.capture_time is None or photo.capture_source is None:
        return "No date in the photo or the file"
    return DATE_SOURCES.get(photo.capture_source, photo.capture_source)


class InfoPanel(QWidget):
    """`details[row]` is the label showing that row (see ROWS)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Photo details")
        self.setFixedWidth(PANEL_WIDTH)
        self.name = QLabel(self)
        self.name.setTextFormat(Qt.TextFormat.PlainText)
        self.name.setWordWrap(True)
        font = self.name.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.name.setFont(font)
        self.details: dict[str, QLabel] = {}
        form = self.form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for key in ROWS:
            label = QLabel("…", self)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the viewer's keys stay the viewer's
            label.setWordWrap(True)
            label.setAccessibleName(key)
            self.details[key] = label
            form.addRow(f"{key}:", label)
        form.setRowVisible(self.details["Length"], False)  # videos only
        self.map_button = QPushButton(theme.icon("map"), "Open in Map", self)
        self.map_button.setToolTip("Show where it was taken on OpenStreetMap, in your browser")
        self.map_button.setAutoDefault(False)
        self.map_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the viewer's keys stay its own
        self.map_button.clicked.connect(self.open_map)
        self.map_note = QLabel(self)
        self.map_note.setWordWrap(True)
        self.map_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        below = ROWS.index("Coordinates") + 1  # under the coordinates they show
        form.insertRow(below, "", self.map_button)
        form.insertRow(below + 1, "", self.map_note)
        self._position: tuple[float, float] | None = None
        self._show_position(None, None)
        hint = QLabel(
            "Shift+drag over the photo (or use Select Region) to find that part in other "
            "photos. Drag the box or its handles to adjust it, then press Enter.",
            self,
        )
        hint.setWordWrap(True)
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 14, 14, 14)
        layout.addWidget(self.name)
        layout.addSpacing(6)
        layout.addLayout(form)
        layout.addSpacing(12)
        layout.addWidget(hint)
        layout.addStretch(1)

    def show_file(self, path: Path) -> None:
        """A new photo: its name and folder now, the rest once the library answers."""
        self.name.setText(path.name)
        for label in self.details.values():
            label.setText("…")
        self.details["Folder"].setText(str(path.parent))
        self.details["Folder"].setToolTip(str(path))
        self._show_position(None, None)

    def show_photo(self, photo: Photo | None, place: str | None = None) -> None:
        """`photo`'s details; `place` its place as the library names it ("Lisbon, Portugal")."""
        if photo is None:
            self.details["Taken"].setText("Not in the library any more")
            return
        self.details["Taken"].setText(taken_text(photo))
        self._show_position(photo, place)
        self.details["Date from"].setText(source_text(photo))
        w, h = photo.width, photo.height
        pixels = f"{w} × {h} px" if w and h else "Unknown"
        if w and h and w * h >= 1_000_000:
            pixels += f" ({w * h / 1e6:.1f} MP)"
        self.details["Pixels"].setText(pixels)
        video = photo.kind == "video"
        self.form.setRowVisible(self.details["Length"], video)
        self.details["Length"].setText(format_time(photo.duration_ms) if video else "")
        self.details["File size"].setText(human_size(photo.size))
        self.details["Camera"].setText(photo.camera or "Unknown")

    def _show_position(self, photo: Photo | None, place: str | None) -> None:
        """Place and coordinates rows and the map button, for a photo with a GPS position."""
        lat, lon = (photo.lat, photo.lon) if photo is not None else (None, None)
        self._position = (lat, lon) if lat is not None and lon is not None else None
        known = self._position is not None
        self.form.setRowVisible(self.details["Place"], bool(known and place))
        self.details["Place"].setText(place or "")
        self.form.setRowVisible(self.details["Coordinates"], known)
        self.form.setRowVisible(self.map_button, known)
        self.map_note.clear()
        self.form.setRowVisible(self.map_note, False)
        if self._position is not None:
            self.details["Coordinates"].setText(coordinates_text(*self._position))

    def open_map(self) -> None:
        """Hand the position to the browser (only now, on the user's click)."""
        if self._position is None:
            return
        url = map_url(*self._position)
        if not QDesktopServices.openUrl(QUrl(url)):
            QGuiApplication.clipboard().setText(url)
            self.map_note.setText(
                f"No browser could open the map. The link is on the clipboard: {url}"
            )
            self.form.setRowVisible(self.map_note, True)

    def show_error(self, message: str) -> None:
        self.details["Taken"].setText(f"The details cannot be read: {message}")
