"""The one "is this path inside that folder" rule (app.core.paths.is_under / folder_prefix)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.core.paths import Paths, folder_prefix, is_under


@pytest.mark.parametrize(
    ("path", "folder", "under", "strictly"),
    [
        ("/a/b/c.jpg", "/a/b", True, True),
        ("/a/b/x/y/c.jpg", "/a/b", True, True),
        ("/a/bc/c.jpg", "/a/b", False, False),  # a sibling sharing the folder's name as a prefix
        ("/a/bc", "/a/b", False, False),
        ("/a/b", "/a/b", True, False),  # the folder itself
        ("/a/b/", "/a/b", True, False),  # trailing separators are ignored on either side
        ("/a/b", "/a/b/", True, False),
        ("/a/b/c.jpg", "/a/b/", True, True),
        ("/a/b/c.jpg", "/a/b//", True, True),
        ("/a", "/a/b", False, False),  # a parent is not inside its child
        ("/x/b/c.jpg", "/a/b", False, False),
        ("/a/b/c.jpg", "/", True, True),  # everything is under the root
        ("/", "/", True, False),
    ],
)
def test_is_under(path: str, folder: str, under: bool, strictly: bool) -> None:
    assert is_under(path, folder) is under
    assert is_under(path, folder, strict=True) is strictly
    assert is_under(Path(path), Path(folder)) is under


@pytest.mark.skipif(os.path.normcase("A") != "A", reason="a case-insensitive platform")
def test_case_counts_where_the_platform_says_it_does() -> None:
    assert not is_under("/A/B/c.jpg", "/a/b")
    assert not is_under("/a/B", "/a/b")


def test_folder_prefix_has_exactly_one_separator() -> None:
    assert folder_prefix("/a/b") == "/a/b" + os.sep
    assert folder_prefix("/a/b///") == "/a/b" + os.sep
    assert folder_prefix("/") == os.sep
    assert "/a/bc/x.jpg".startswith(folder_prefix("/a/b")) is False


def test_own_paths(tmp_path: Path) -> None:
    paths = Paths.at(tmp_path / "home")
    assert paths.is_own(paths.data)
    assert paths.is_own(paths.data / "catalog.sqlite3")
    assert paths.is_own(str(paths.cache) + os.sep)
    assert not paths.is_own(str(paths.data) + "x")
    assert not paths.is_own(tmp_path / "photos" / "a.jpg")
