"""The background-work helper: outcomes arrive on the GUI thread, cancel drops them, errors
reach their handler or the excepthook."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import QThreadPool
from qt_helpers import strict_qt_fixture  # noqa: F401

from app.ui.workers import pending_workers, run_in_thread


@pytest.fixture
def pool(qapp):
    pool = QThreadPool()
    pool.setMaxThreadCount(1)
    yield pool
    pool.waitForDone(5000)


def test_result_arrives_on_gui_thread_after_running_elsewhere(qtbot, pool):
    gui = threading.get_ident()
    seen: dict[str, object] = {}

    def work() -> int:
        seen["worker"] = threading.get_ident()
        return 42

    def got(value: int) -> None:
        seen["value"] = value
        seen["callback"] = threading.get_ident()

    run_in_thread(work, on_result=got, pool=pool)
    qtbot.waitUntil(lambda: "value" in seen)
    assert seen["value"] == 42
    assert seen["worker"] != gui
    assert seen["callback"] == gui
    qtbot.waitUntil(lambda: pending_workers() == 0)


def test_progress_values_arrive_in_order_before_the_result(qtbot, pool):
    events: list[object] = []

    def work(progress) -> str:
        for i in range(5):
            progress(i)
        return "done"

    run_in_thread(
        work,
        on_progress=events.append,
        on_result=events.append,
        on_finished=lambda: events.append("finished"),
        pool=pool,
    )
    qtbot.waitUntil(lambda: "finished" in events)
    assert events == [0, 1, 2, 3, 4, "done", "finished"]


def test_error_goes_to_on_error_not_on_result(qtbot, pool):
    errors: list[BaseException] = []
    results: list[object] = []

    def work() -> None:
        raise ValueError("broken photo")

    run_in_thread(work, on_result=results.append, on_error=errors.append, pool=pool)
    qtbot.waitUntil(lambda: bool(errors))
    assert isinstance(errors[0], ValueError) and str(errors[0]) == "broken photo"
    assert results == []


def test_unhandled_error_reaches_the_excepthook(qtbot, pool, monkeypatch):
    hooked: list[BaseException] = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, exc, tb: hooked.append(exc))
    run_in_thread(lambda: 1 / 0, pool=pool)
    qtbot.waitUntil(lambda: bool(hooked))
    assert isinstance(hooked[0], ZeroDivisionError)


def test_cancel_before_start_never_runs(qtbot, pool):
    gate = threading.Event()
    ran: list[str] = []
    blocker = run_in_thread(gate.wait, pool=pool)  # occupies the pool's only thread
    queued = run_in_thread(lambda: ran.append("queued"), on_result=ran.append, pool=pool)
    queued.cancel()
    gate.set()
    qtbot.waitUntil(lambda: blocker.done)
    pool.waitForDone(5000)
    qtbot.waitUntil(lambda: pending_workers() == 0)
    assert ran == []


def test_cancel_while_running_drops_the_result(qtbot, pool):
    started, gate = threading.Event(), threading.Event()
    results: list[object] = []

    def work() -> str:
        started.set()
        gate.wait(5)
        return "late"

    worker = run_in_thread(work, on_result=results.append, pool=pool)
    assert started.wait(5)
    worker.cancel()
    gate.set()
    qtbot.waitUntil(lambda: worker.done)
    assert results == []


def test_pyside_calls_cannot_exhaust_none_or_true(qapp):
    """PySide6 6.12.0 on Python 3.11 drops a reference to None/True per void call or emit;
    app.ui guards against it, so a long session (or the end of this test run) cannot abort."""
    from PySide6.QtCore import QObject, Signal

    from app.ui import qt_compat

    class Box(QObject):
        ping = Signal()

    box = Box()
    assert qt_compat.guard_singletons() in (True, False)  # idempotent; app.ui ran it already
    for _ in range(20_000):  # far more than the references None had before the guard
        box.setObjectName("box")
        box.ping.emit()
    assert sys.getrefcount(None) > 0 and sys.getrefcount(True) > 0
    if sys.version_info < (3, 12) and qt_compat.singleton_leak() != (0, 0):
        assert sys.getrefcount(None) > qt_compat.HEADROOM // 2
