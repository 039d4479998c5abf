"""Keep PySide6 6.12 from corrupting Python 3.11: make None, True and False immortal.

PySide6 6.12.0 returns the singletons without owning a reference to them: every call of a
method returning nothing (`widget.update()`, `obj.setObjectName(...)`), every `None` result
(`obj.parent()`) and every `signal.emit()` (which returns True) drops one reference. That is
harmless on Python 3.12+, where these objects are immortal, but on 3.11 the count reaches zero
after enough calls and the process aborts ("Fatal Python error: none_dealloc" / "bool_dealloc"),
in a long session or at exit. Reproduce: `sys.getrefcount(None)` falls by 10 after ten
`QObject().setObjectName("x")` calls. Where the leak is measured, the three singletons get a
reference count no run can exhaust (2**40), which is what Python 3.12 does for them.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

PROBES = 8
HEADROOM = 1 << 40


class _Probe(QObject):
    ping = Signal()


def singleton_leak() -> tuple[int, int]:
    """(None references, True references) a few PySide6 calls lose; (0, 0) on a sound build."""
    probe = _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(PROBES):
        probe.setObjectName("probe")
        probe.ping.emit()
    return none_before - sys.getrefcount(None), true_before - sys.getrefcount(True)


def _add_references(obj: object, count: int) -> None:
    # CPython (non-debug, < 3.12): ob_refcnt is the Py_ssize_t at the object's address.
    ctypes.c_ssize_t.from_address(id(obj)).value += count


def guard_singletons() -> bool:
    """Apply the fix when this Python and PySide6 need it; True when applied (idempotent)."""
    if (
        sys.version_info >= (3, 12)
        or sys.implementation.name != "cpython"
        or hasattr(sys, "gettotalrefcount")
    ):  # immortal already, or another object layout
        return False
    if sys.getrefcount(None) > HEADROOM // 2:
        return True  # already done
    lost_none, lost_true = singleton_leak()
    if lost_none <= 0 and lost_true <= 0:
        return False
    for obj in (None, True, False):
        _add_references(obj, HEADROOM)
    log.debug(
        "PySide6 drops references to None/True (%s, %s per %s calls): guarded",
        lost_none,
        lost_true,
        PROBES,
    )
    return True
