"""Admin plumbing shared by the domain apps: saves go through services, errors become messages."""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from governance.common.errors import DomainError


class ServiceBackedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose saves call audited services; deletion and bulk deletion are disabled."""

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """Without the admin's own outer transaction: the service opens its own, and a refusal it
        records (``<action>.denied``) must not be rolled back with the refused change."""
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
