from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone

from audit.guard import GovernedQuerySet, governed_queryset
from governance.accounts import roles as role_rule

# Columns that change without an audit event: login bookkeeping and password hashes (password
# changes made in the admin are audited by the admin itself). Migration 0003 guards the others.
USER_BOOKKEEPING_FIELDS = ("last_login", "password")
GOVERNED_USER_FIELDS = (
    "username",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
    "is_service_account",
    "date_joined",
)


class GovernedUserQuerySet(GovernedQuerySet):
    unaudited_fields = frozenset(USER_BOOKKEEPING_FIELDS)


class GovernedUserManager(UserManager["User"]):
    """``UserManager`` over ``GovernedUserQuerySet`` (its querysets, and so its bulk writes, are
    governed). Django's ``create_user`` and ``create_superuser`` (``manage.py createsuperuser``)
    create the account through the audited service (``services.user_create``), as a named command.

    Declared rather than built with ``UserManager.from_queryset(GovernedUserQuerySet)`` (the same
    class, since GovernedQuerySet adds no public method to copy): mypy's django plugin resolves a
    ``from_queryset`` base class only in some import orders."""

    _queryset_class = GovernedUserQuerySet

    # Return types as UserManager declares them (its generic user type); both return a User.
    def create_user(self, username: str, email: str | None = None, password: str | None = None, **extra_fields: Any):
        return self._create_audited("create_user", username, email, password, extra_fields)

    def create_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra_fields: Any
    ):
        extra_fields = {"is_staff": True, "is_superuser": True, **extra_fields}
        if extra_fields["is_staff"] is not True or extra_fields["is_superuser"] is not True:
            raise ValueError("a superuser must have is_staff=True and is_superuser=True")
        return self._create_audited("createsuperuser", username, email, password, extra_fields)

    def _create_audited(
        self, command: str, username: str, email: str | None, password: str | None, extra_fields: dict[str, Any]
    ) -> User:
        from governance.accounts.principal import Principal
        from governance.accounts.services import user_create

        return user_create(
            by=Principal.for_command(command),
            username=username,
            password=password,
            email=self.normalize_email(email) or "",
            **extra_fields,
        )


class User(AbstractUser):
    """A person, or a pipeline's service account (``is_service_account``), which never signs."""

    is_service_account = models.BooleanField(
        default=False, help_text="Pipelines authenticate with API tokens and can never approve anything."
    )

    objects: ClassVar[GovernedUserManager] = GovernedUserManager()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A save of an existing account after ``set_password`` that changed nothing else (``manage.py
        changepassword``) writes the password column alone, so no governed column is rewritten
        without an audit event (the guard would refuse the commit on PostgreSQL)."""
        password_just_set = getattr(self, "_password", None) is not None
        if kwargs.get("update_fields") is None and not self._state.adding and password_just_set:
            stored = type(self)._base_manager.filter(pk=self.pk).values(*GOVERNED_USER_FIELDS).first()
            if stored is not None and all(getattr(self, name) == value for name, value in stored.items()):
                kwargs["update_fields"] = ["password"]
        super().save(*args, **kwargs)

    def has_role(self, *roles: str, superusers: bool = True) -> bool:
        """The one role rule (``governance.accounts.roles.has_role``): active users holding one of
        ``roles``; active superusers too unless ``superusers=False``."""
        return role_rule.has_role(self, *roles, superusers=superusers)

    @property
    def role_names(self) -> list[str]:
        if not self.is_active:  # the role rule gives inactive users none; the list still shows their groups
            return sorted(self.groups.values_list("name", flat=True))
        return sorted(role_rule.role_names(self))


class ApiToken(models.Model):
    """An API token. Only the SHA-256 of the secret is stored; the key is shown once."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, unique=True, help_text="Public part of the key, used to find it.")
    key_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = governed_queryset("last_used_at").as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(key_sha256__regex=r"^[0-9a-f]{64}$"), name="apitoken_key_sha256_hex"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user.username}:{self.prefix}"

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class OidcIdentity(models.Model):
    """The link between a person and their account at the OpenID provider (issuer + subject).

    Created just in time at the first single sign-on; a user is found by this pair, never by
    e-mail (an e-mail claim can be re-assigned at the provider).
    """

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="oidc_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    objects = governed_queryset().as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_unique_subject")]

    def __str__(self) -> str:
        return f"{self.user.username} = {self.subject} at {self.issuer}"


class CredentialRefusalWindow(models.Model):
    """Refused credentials from one source in one time window (operational, not governed).

    ``governance.accounts.throttle`` counts every refusal here and records each finished window
    as one audit event with its count, so a flood of bad tokens or passwords leaves a complete
    but bounded record (at most one event per source and window), and throttles the source.
    """

    kind = models.CharField(max_length=16)  # token, login, signing
    source = models.CharField(max_length=80)  # "ip:<address>" or "user:<id>"
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
    reasons = models.JSONField(default=dict)  # reason -> count
    subjects = models.JSONField(default=list)  # usernames / token prefixes tried (the first few)
    recorded = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "source", "window_start"], name="refusal_window_unique")]
        indexes = [models.Index(fields=["recorded", "window_start"], name="refusal_window_open_idx")]

    def __str__(self) -> str:
        return f"{self.kind} refusals from {self.source} at {self.window_start:%H:%M}: {self.count}"
