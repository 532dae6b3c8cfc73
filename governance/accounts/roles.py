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
        "registry.view_registeredmodel", "registry.add_registeredmodel", "registry.change_registeredmodel",
        "registry.view_modelversion", "registry.add_modelversion", "registry.change_modelversion",
    ),
    VALIDATOR: ("registry.view_registeredmodel", "registry.view_modelversion", "audit.view_auditevent"),
    RISK_OFFICER: (
        "registry.view_registeredmodel", "registry.change_registeredmodel",
        "registry.view_modelversion", "audit.view_auditevent", "audit.view_auditcheckpoint",
        "accounts.view_apitoken",
    ),
    AUDITOR: (
        "registry.view_registeredmodel", "registry.view_modelversion",
        "audit.view_auditevent", "audit.view_auditcheckpoint", "audit.view_auditverification",
    ),
    PIPELINE: (
        "registry.view_registeredmodel", "registry.add_registeredmodel",
        "registry.view_modelversion", "registry.add_modelversion",
    ),
}
