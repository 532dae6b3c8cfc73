"""The five roles, as Django groups created by a data migration (0002_roles)."""

DEVELOPER = "developer"
VALIDATOR = "validator"
RISK_OFFICER = "risk_officer"
AUDITOR = "auditor"
PIPELINE = "pipeline"
ALL_ROLES = (DEVELOPER, VALIDATOR, RISK_OFFICER, AUDITOR, PIPELINE)

# Model permissions per role ("app_label.codename"). Object-level rules (for example "a
# developer changes only models they own") live in the services and the API permissions.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    DEVELOPER: (
        "registry.view_registeredmodel",
        "registry.add_registeredmodel",
        "registry.change_registeredmodel",
        "registry.view_modelversion",
        "registry.add_modelversion",
        "registry.change_modelversion",
    ),
    VALIDATOR: ("registry.view_registeredmodel", "registry.view_modelversion", "audit.view_auditevent"),
    RISK_OFFICER: (
        "registry.view_registeredmodel",
        "registry.change_registeredmodel",
        "registry.view_modelversion",
        "audit.view_auditevent",
        "audit.view_auditcheckpoint",
        "accounts.view_apitoken",
    ),
    AUDITOR: (
        "registry.view_registeredmodel",
        "registry.view_modelversion",
        "audit.view_auditevent",
        "audit.view_auditcheckpoint",
        "audit.view_auditverification",
    ),
    PIPELINE: (
        "registry.view_registeredmodel",
        "registry.add_registeredmodel",
        "registry.view_modelversion",
        "registry.add_modelversion",
    ),
}


def grant_app_permissions(apps, app_label: str, role_codenames: dict[str, list[str]]) -> None:
    """Give roles model permissions of one app, from a data migration (idempotent).

    Permissions are created on ``post_migrate``, after data migrations run, so they are created here.
    """
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config(app_label)
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in role_codenames.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))


def role_names(user) -> frozenset[str]:
    """The roles ``user`` holds: the names of their groups; none for inactive or anonymous users."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_request_role_names", None)
    if cached is not None:
        return cached
    names = frozenset(user.groups.values_list("name", flat=True))
    if getattr(user, "_cache_role_names", False):  # the signed-in user of one admin page (accounts.middleware)
        user._request_role_names = names
    return names


def has_role(user, *roles: str, superusers: bool = True, held: frozenset[str] | None = None) -> bool:
    """THE role rule: an active user holding one of ``roles``.

    Inactive and anonymous users hold no role. An active superuser counts as holding every role
    unless the caller says ``superusers=False`` (a signature is given in a role the signer really
    holds). ``held`` passes the user's role names when the caller already has them (a Principal
    caches them). ``Principal.has_role`` and ``User.has_role`` both use this function.
    """
    unknown = set(roles) - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}")
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if superusers and user.is_superuser:
        return True
    return bool((role_names(user) if held is None else held) & set(roles))
