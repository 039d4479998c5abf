"""The desktop window: presents app.core, holds no logic of its own."""

from app.ui.qt_compat import guard_singletons

guard_singletons()
