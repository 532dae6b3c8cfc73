"""The regimes a model can be governed by, as the reports app declares them (its outline files).

The registry sits below the reports app and may not import it: ``ReportsConfig.ready`` registers the
regimes its outlines define (``register_regimes``), and the registry validates a model's
``governing_regimes`` against them. ``settings.DEFAULT_GOVERNING_REGIMES`` applies to a model that
names none.
"""

from __future__ import annotations

from django.conf import settings

from governance.common.errors import ValidationFailed

FIELD = "governing_regimes"
_KNOWN: dict[str, str] = {}


def register_regimes(choices: list[tuple[str, str]]) -> None:
    """Declare the known regimes as (id, title), in display order (called once per process)."""
    _KNOWN.clear()
    _KNOWN.update(dict(choices))


def known_regimes() -> list[tuple[str, str]]:
    """(id, title) of every regime a model may be governed by."""
    return list(_KNOWN.items())


def regime_title(regime: str) -> str:
    return _KNOWN.get(regime, regime)


def clean_regimes(value, *, field: str = FIELD) -> list[str]:
    """``value`` as a list of known regime ids without repeats, or ``ValidationFailed`` naming ``field``."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise ValidationFailed(f"{field}: must be a list of regime ids", field=field)
    known = sorted(_KNOWN)
    for item in value:
        if item not in _KNOWN:
            raise ValidationFailed(f"{field}: unknown regime {item[:64]!r}; known: {', '.join(known)}", field=field)
    if len(set(value)) != len(value):
        raise ValidationFailed(f"{field}: a regime is named twice", field=field)
    return list(value)


def default_regimes() -> list[str]:
    """The installation's default (``settings.DEFAULT_GOVERNING_REGIMES``), for models that name none."""
    return list(settings.DEFAULT_GOVERNING_REGIMES)


def check_default_regimes() -> None:
    """Refuse to start with an unknown regime in ``DEFAULT_GOVERNING_REGIMES`` (called once the regimes are
    registered)."""
    try:
        clean_regimes(default_regimes(), field="DEFAULT_GOVERNING_REGIMES")
    except ValidationFailed as exc:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(str(exc)) from exc
