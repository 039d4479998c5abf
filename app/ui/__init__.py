"""The desktop window: presents app.core, holds no logic of its own."""
