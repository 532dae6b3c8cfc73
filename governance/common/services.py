"""Small helpers shared by the domain services."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError

from governance.common.errors import ValidationFailed


def full_clean_or_raise(instance, *, exclude: list[str] | None = None) -> None:
    """Run model validation and turn Django's errors into one ValidationFailed naming the fields."""
    try:
        # Uniqueness and constraints are checked by the services (as 409 Conflict) and the database.
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        fields = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
        first = next(iter(fields.items()))
        raise ValidationFailed(f"{first[0]}: {first[1][0]}", fields=fields) from exc


def changed_fields(instance, data: Mapping) -> dict:
    """The subset of ``data`` that differs from the instance, as {field: (before, after)}."""
    return {name: (getattr(instance, name), value) for name, value in data.items() if getattr(instance, name) != value}
