"""Filters shared by the API's list endpoints."""

from __future__ import annotations

import django_filters
from django import forms

MAX_ID = 2**63 - 1  # a 64-bit primary key; larger numbers overflowed SQLite (a 500)


class IdField(forms.IntegerField):
    default_error_messages = {"invalid": "must be a whole number (an id)"}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class IdFilter(django_filters.NumberFilter):
    """A filter on an integer id: a whole number from 1 to 2**63-1, or a 400 naming the parameter."""

    field_class = IdField


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 instant, converted to UTC: PostgreSQL refuses offsets beyond ±15:59 (``+21:14``
    answered 500), and an instant that has no UTC equivalent is a 400 naming the parameter."""

    default_error_messages = {"invalid": "must be an ISO 8601 date and time with an offset up to ±15:59"}

    def to_python(self, value):
        import datetime as dt

        from django.core.exceptions import ValidationError

        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(dt.UTC)
        except (OverflowError, ValueError):
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
