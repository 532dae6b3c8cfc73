"""People, roles and tokens in the admin. Every save goes through the audited services."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import Group
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from audit.services import audit_unit
from governance.accounts.models import ApiToken, User
from governance.accounts.principal import Principal
from governance.accounts.roles import ALL_ROLES
from governance.accounts.services import (
    api_token_issue,
    api_token_revoke,
    service_account_create,
    user_username_keep,
)
from governance.common.errors import DomainError

TRACKED_USER_FIELDS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "is_active",
    "is_staff",
    "is_superuser",
    "is_service_account",
    "date_joined",
)


class PasswordOnlyChangeForm(AdminPasswordChangeForm):
    """Saves the password column alone: a full save would rewrite the guarded columns too."""

    def save(self, commit=True):
        user = self.set_password_and_save(self.user, commit=False)
        if commit:
            user.save(update_fields=["password"])
        return user


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "get_full_name", "email", "roles", "is_service_account", "is_staff", "is_active")
    list_filter = ("groups", "is_service_account", "is_staff", "is_active")
    fieldsets = (*(DjangoUserAdmin.fieldsets or ()), ("Governance", {"fields": ("is_service_account",)}))
    # Records, not settings: the form held them to the second, so every save rewrote them.
    readonly_fields = ("last_login", "date_joined")
    change_password_form = PasswordOnlyChangeForm
    actions = None

    @admin.display(description="roles")
    def roles(self, obj):
        return ", ".join(obj.role_names) or "—"

    def has_delete_permission(self, request, obj=None):
        return False  # people who signed things stay on record; deactivate instead

    def get_readonly_fields(self, request, obj=None):
        """The username is set when the account is made and never changes (``user_username_keep``)."""
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly if obj is None else ("username", *readonly)

    def save_model(self, request, obj, form, change):
        before = {}
        if change:
            user_username_keep(by=Principal.for_request(request), user=obj, username=obj.username)
            stored = User.objects.get(pk=obj.pk)
            before = {name: getattr(stored, name) for name in TRACKED_USER_FIELDS}
        after = {name: getattr(obj, name) for name in TRACKED_USER_FIELDS}
        diff = {k: {"before": before.get(k), "after": v} for k, v in after.items() if before.get(k) != v}
        if change and not diff and "password" not in form.changed_data:
            return  # nothing to write (a save would rewrite guarded columns with no event to show for it)
        with audit_unit(Principal.for_request(request).actor) as audit:
            super().save_model(request, obj, form, change)
            if diff or "password" in form.changed_data:
                audit.add(
                    "user.update" if change else "user.create",
                    {"type": "user", "id": str(obj.pk), "username": obj.username},
                    details={"changes": diff, "password_changed": "password" in form.changed_data},
                )

    def user_change_password(self, request, id, form_url=""):
        """The password page writes the password column only (bookkeeping, not replayed) and records
        that it changed, as the change form does (``password_changed``)."""
        user = self.get_object(request, unquote(id))
        stored = user.password if user is not None else None
        with audit_unit(Principal.for_request(request).actor) as audit:
            response = super().user_change_password(request, id, form_url)
            if user is not None and User.objects.filter(pk=user.pk).values_list("password", flat=True).get() != stored:
                audit.add(
                    "user.update",
                    {"type": "user", "id": str(user.pk), "username": user.username},
                    details={"changes": {}, "password_changed": True},
                )
        return response

    def save_related(self, request, form, formsets, change):
        user = form.instance

        def grants():
            return {
                "roles": sorted(user.groups.values_list("name", flat=True)),
                "permissions": sorted(user.user_permissions.values_list("codename", flat=True)),
            }

        before = grants() if change else {"roles": [], "permissions": []}
        with audit_unit(Principal.for_request(request).actor) as audit:
            super().save_related(request, form, formsets, change)
            after = grants()
            if before != after:
                audit.add(
                    "user.roles_change",
                    {"type": "user", "id": str(user.pk), "username": user.username},
                    details={"before": before, "after": after},
                )


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """Groups are roles. A role's group, or a group with members, is neither deleted nor renamed
    here: that would change its members' roles (``accounts_user_groups``) without an audit event.
    Members change on the user's page, which is audited."""

    @staticmethod
    def _held(obj) -> bool:
        return obj is not None and (obj.name in ALL_ROLES or obj.user_set.exists())

    def has_delete_permission(self, request, obj=None):
        return not self._held(obj) and super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return ("name",) if self._held(obj) else ()


class TokenIssueForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True), required=False, help_text="An existing person or service account."
    )
    new_service_account = forms.RegexField(
        regex=r"^[a-z0-9][a-z0-9._-]{1,99}$",
        required=False,
        help_text="Or: the name of a new pipeline service account to create.",
    )
    name = forms.CharField(max_length=100, required=False, help_text="What the token is for.")
    expires_days = forms.IntegerField(min_value=1, max_value=3650, initial=90)

    def clean(self):
        data = super().clean()
        if bool(data.get("user")) == bool(data.get("new_service_account")):
            raise forms.ValidationError("Choose an existing user or name a new service account (one of the two).")
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "status", "created_at", "expires_at", "last_used_at")
    list_filter = ("user__is_service_account",)
    search_fields = ("prefix", "user__username", "name")
    readonly_fields = ("user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    exclude = ("key_sha256",)
    actions = ["revoke_selected"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request, queryset):
        revoked = 0
        for token in queryset:
            if token.revoked_at is None:
                api_token_revoke(by=Principal.for_request(request), token=token)
                revoked += 1
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)

    def get_urls(self):
        return [
            path("issue/", self.admin_site.admin_view(self.issue_view), name="accounts_apitoken_issue")
        ] + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:accounts_apitoken_issue")

    def issue_view(self, request):
        if not self.has_add_permission(request):
            return redirect("admin:index")
        form = TokenIssueForm(request.POST or None)
        key = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if data["new_service_account"]:
                    user, key = service_account_create(
                        by=Principal.for_request(request),
                        name=data["new_service_account"],
                        expires_days=data["expires_days"],
                    )
                else:
                    user = data["user"]
                    _, key = api_token_issue(
                        by=Principal.for_request(request),
                        user=user,
                        name=data["name"],
                        expires_days=data["expires_days"],
                    )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.warning(request, "Copy the key now: it is stored hashed and will never be shown again.")
                form = TokenIssueForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Issue an API token",
            "form": form,
            "key": key,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/accounts/issue_token.html", context)
