"""Search languages of multilingual models: FLORES-200 codes ("deu_Latn") shown by name, and
the default picked from the UI locale."""

from __future__ import annotations

from PySide6.QtCore import QLocale


def _language(code: str) -> QLocale.Language:
    iso = code.split("_")[0]
    return QLocale.codeToLanguage(iso, QLocale.LanguageCodeType.AnyLanguageCode)


def language_name(code: str) -> str:
    """ "German (deu_Latn)"; the bare code when Qt does not know the language."""
    lang = _language(code)
    if lang in (QLocale.Language.AnyLanguage, QLocale.Language.C):
        return code
    return f"{QLocale.languageToString(lang)} ({code})"


def default_language(codes: list[str], locale: QLocale | None = None) -> str | None:
    """The code for the locale's language (its script preferred), else English, else the first."""
    if not codes:
        return None
    locale = locale or QLocale()
    script = QLocale.scriptToCode(locale.script())  # "Latn", "Cyrl", "Hans", ...
    same = [c for c in codes if _language(c) == locale.language()]
    for code in same:
        if code.endswith("_" + script):
            return code
    if same:
        return same[0]
    return "eng_Latn" if "eng_Latn" in codes else codes[0]
