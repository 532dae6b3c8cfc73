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
