"""Form messages in the user's language: WTForms' own catalogue first, then the application's.

Flask-WTF translates form messages with the "wtforms" catalogue alone, so the messages FAB's fields and
validators raise through the form ("Not a valid choice", "Already exists.") stayed in English on Chinese
screens. Each request gets a catalogue that falls back to the application's (FAB's, merged with
translations/), where app/fab_strings.py marks those messages.
"""

from __future__ import annotations

from babel import support
from flask import Flask, request
from flask_babel import LazyString, get_locale, get_translations
from wtforms.i18n import messages_path

# FAB's Unique validator keeps the first message it is given for the life of the process (the form
# classes are built once): it gets one that is read in the language of each request that shows it.
KEPT_BY_FAB = frozenset({"Already exists."})


class FormTranslations:
    """What Flask-WTF reads from `request.wtforms_translations`, loaded on the first form message."""

    def __init__(self):
        self._catalogue = None

    def _load(self) -> support.NullTranslations:
        if self._catalogue is None:
            catalogue = support.Translations.load(messages_path(), [get_locale()], domain="wtforms")
            catalogue.add_fallback(get_translations())
            self._catalogue = catalogue
        return self._catalogue

    def ugettext(self, string: str):
        if string in KEPT_BY_FAB:
            return LazyString(lambda: _current().ugettext(string))
        return self._load().ugettext(string)

    def ungettext(self, singular: str, plural: str, n: int) -> str:
        return self._load().ungettext(singular, plural, n)


def _current() -> support.NullTranslations:
    translations = getattr(request, "wtforms_translations", None)
    if not isinstance(translations, FormTranslations):
        translations = request.wtforms_translations = FormTranslations()
    return translations._load()


def _install() -> None:
    request.wtforms_translations = FormTranslations()


def init_app(app: Flask) -> None:
    app.before_request(_install)
