"""Rules that turn registered facts into regulatory statements, driven by outline data.

The rules live in the outline (``"annex_iii_points"`` and ``"conformity"`` in ``eu_ai_act.json``) with
their citations, so a compliance officer can read and check them; this module only applies them.
"""

from __future__ import annotations

from collections.abc import Mapping


def annex_iii_point(model: Mapping, rules: list[Mapping]) -> Mapping | None:
    """The Annex III point a registered area and purpose suggest: the first rule whose ``area``
    matches and one of whose ``purpose_terms`` occurs in the purpose (case-insensitive)."""
    eu = model.get("eu_ai_act") or {}
    area = eu.get("annex_iii_area")
    purpose = " ".join(str(model.get(k) or "") for k in ("purpose", "title", "name")).lower()
    for rule in rules or []:
        if rule.get("area") != area:
            continue
        terms = rule.get("purpose_terms") or []
        if not terms or any(t.lower() in purpose for t in terms):
            return rule
    return None


def conformity_route(point: Mapping | None, conformity: Mapping) -> Mapping | None:
    """The conformity-assessment route for an Annex III point, from the outline's table."""
    if not point:
        return None
    number = str(point.get("point", "")).split("(")[0]
    for route in (conformity or {}).get("routes", []):
        if number in route.get("annex_iii_points", []):
            return route
    return None
