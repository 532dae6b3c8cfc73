"""The rules of ongoing model risk management, kept as data.

Revalidation intervals (months) per SR 11-7 risk tier come from ``settings.OVERSIGHT_REVALIDATION_MONTHS``;
an EU AI Act high-risk model is revalidated at least every ``settings.OVERSIGHT_EU_HIGH_RISK_MAX_MONTHS``.

``ART73_DEADLINES`` is the EU AI Act Art. 73 serious-incident reporting rule: the number of days after
the provider became aware of the incident by which it must be reported, per kind of incident, with the
paragraph each deadline comes from (Regulation (EU) 2024/1689; paragraphs checked against the Official
Journal text: 73(2) general, 73(3) widespread infringement or Art. 3(49)(b), 73(4) death). The shortest
applicable deadline wins.
"""

from __future__ import annotations

import calendar
import datetime as dt

from django.conf import settings

DEFAULT_REVALIDATION_MONTHS = {"tier_1": 12, "tier_2": 24, "tier_3": 36}
DEFAULT_EU_HIGH_RISK_MAX_MONTHS = 12

ART73_DEADLINES: dict[str, dict] = {
    "general": {
        "days": 15,
        "paragraph": "Art. 73(2)",
        "label": "Serious incident (general case)",
    },
    "widespread_or_critical_infrastructure": {
        "days": 2,
        "paragraph": "Art. 73(3)",
        "label": "Widespread infringement, or serious and irreversible disruption of critical infrastructure "
        "(Art. 3(49)(b))",
    },
    "death": {
        "days": 10,
        "paragraph": "Art. 73(4)",
        "label": "Death of a person",
    },
}
INCIDENT_CATEGORIES = tuple(ART73_DEADLINES)


def revalidation_months() -> dict[str, int]:
    return {**DEFAULT_REVALIDATION_MONTHS, **getattr(settings, "OVERSIGHT_REVALIDATION_MONTHS", {})}


def eu_high_risk_max_months() -> int:
    return int(getattr(settings, "OVERSIGHT_EU_HIGH_RISK_MAX_MONTHS", DEFAULT_EU_HIGH_RISK_MAX_MONTHS))


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole months; the 31st becomes the month's last day (29 Feb + 12 months = 28 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def reporting_deadline(aware_at: dt.datetime, category: str) -> tuple[dt.datetime, dict]:
    """The Art. 73 deadline for an incident of ``category`` the provider became aware of at ``aware_at``."""
    rule = ART73_DEADLINES[category]
    return aware_at + dt.timedelta(days=rule["days"]), rule
