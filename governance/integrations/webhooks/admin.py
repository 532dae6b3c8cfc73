"""Outbound webhooks in the admin (risk officers and administrators): subscriptions through the
audited services (the secret shown once), and the delivery log with manual redelivery."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from governance.accounts.principal import Principal
from governance.common.admin import ServiceBackedAdmin
from governance.common.errors import DomainError
from governance.integrations.webhooks import catalogue, services
from governance.integrations.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

EVENT_CHOICES = [(name, f"{name} — {text}") for name, text in catalogue.EVENTS.items()]


class SubscriptionForm(forms.ModelForm):
    url = forms.CharField(max_length=2000, help_text="The receiver's URL (https:// outside development).")
    events = forms.MultipleChoiceField(choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookSubscription
        fields = ["url", "events", "description"]


class ManagerOnly:
    """Only risk officers and administrators see or change webhooks (model permissions do not apply)."""

    def has_module_permission(self, request):
        return services.may_manage(request.user)

    def has_view_permission(self, request, obj=None):
        return services.may_manage(request.user)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ManagerOnly, ServiceBackedAdmin):
    form = SubscriptionForm
    list_display = ("id", "url", "event_list", "is_active", "owner", "secret_hint", "created_at", "deliveries")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    readonly_fields = (
        "secret_hint",
        "owner",
        "is_active",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "updated_at",
    )
    actions = ["disable_selected", "enable_selected", "rotate_secret"]

    def has_add_permission(self, request):
        return services.may_manage(request.user)

    def has_change_permission(self, request, obj=None):
        return services.may_manage(request.user)

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.events)

    @admin.display(description="deliveries")
    def deliveries(self, obj):
        url = reverse("admin:webhooks_webhookdelivery_changelist") + f"?subscription__id__exact={obj.pk}"
        return format_html('<a href="{}">log</a>', url)

    def get_urls(self):
        return [
            path("add/", self.admin_site.admin_view(self.create_view), name="webhooks_webhooksubscription_add"),
        ] + super().get_urls()

    def create_view(self, request):
        if not self.has_add_permission(request):
            return redirect("admin:index")
        form = SubscriptionForm(request.POST or None)
        secret = sub = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                sub, secret = services.subscription_create(
                    by=Principal.for_request(request),
                    url=data["url"],
                    events=list(data["events"]),
                    description=data.get("description") or "",
                )
            except DomainError as exc:
                for field, reasons in exc.fields.items():
                    form.add_error(field.split("[")[0] if field.split("[")[0] in form.fields else None, reasons[0])
                if not exc.fields:
                    form.add_error(None, exc.message)
            else:
                form = None  # the secret is on the page; nothing to resubmit
        return self._secret_page(
            request, form=form, secret=secret, subscription=sub, title="Add a webhook subscription"
        )

    def _secret_page(self, request, *, form, secret, subscription, title):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "secret": secret,
            "subscription": subscription,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/webhooks/subscription_secret.html", context)

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in ("url", "events", "description")}
        if "events" in data:
            data["events"] = list(data["events"])
        services.subscription_update(by=Principal.for_request(request), subscription=obj, data=data)

    @admin.action(description="Disable selected subscriptions")
    def disable_selected(self, request, queryset):
        done = 0
        for sub in queryset.filter(is_active=True):
            services.subscription_disable(
                by=Principal.for_request(request),
                subscription=sub,
                reason=f"disabled in the admin by {request.user.username}",
            )
            done += 1
        self.message_user(request, f"{done} subscription(s) disabled.", messages.SUCCESS)

    @admin.action(description="Enable selected subscriptions")
    def enable_selected(self, request, queryset):
        done = 0
        for sub in queryset.filter(is_active=False):
            try:
                services.subscription_enable(by=Principal.for_request(request), subscription=sub)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"#{sub.pk} not enabled: {exc.message}", messages.ERROR)
        self.message_user(request, f"{done} subscription(s) enabled.", messages.SUCCESS)

    @admin.action(description="Rotate the secret (select one; the new secret is shown once)")
    def rotate_secret(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one subscription to rotate its secret.", messages.ERROR)
            return None
        sub, secret = services.subscription_rotate_secret(
            by=Principal.for_request(request), subscription=queryset.get()
        )
        return self._secret_page(request, form=None, secret=secret, subscription=sub, title="New webhook secret")


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "at", "succeeded", "status_code", "latency_ms", "error", "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return services.may_manage(request.user)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ManagerOnly, admin.ModelAdmin):
    list_display = (
        "id",
        "event",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "last_latency_ms",
        "created_at",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "event", "subscription")
    search_fields = ("message_id",)
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [AttemptInline]
    actions = ["redeliver_selected"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_urls(self):
        return [
            path(
                "<int:pk>/redeliver/",
                self.admin_site.admin_view(self.redeliver_view),
                name="webhooks_webhookdelivery_redeliver",
            )
        ] + super().get_urls()

    def redeliver_view(self, request, pk):
        if request.method == "POST":
            self.redeliver_selected(
                request, WebhookDelivery.objects.filter(pk=get_object_or_404(WebhookDelivery, pk=pk).pk)
            )
        return redirect("admin:webhooks_webhookdelivery_change", pk)

    @admin.action(description="Redeliver selected deliveries (same webhook-id)")
    def redeliver_selected(self, request, queryset):
        done = 0
        for delivery in queryset:
            try:
                services.delivery_redeliver(by=Principal.for_request(request), delivery=delivery)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"Delivery {delivery.pk} not redelivered: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} delivery(ies) queued again.", messages.SUCCESS)
