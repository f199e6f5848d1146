"""Forms for subscribing and managing a subscription on the public page."""

from __future__ import annotations

from django import forms

from components.forms import ComponentIdsField
from components.models import Component
from statuspage.models import Page
from subscribers.models import WebhookFormat
from subscribers.ratelimit import check_sign_up
from subscribers.services import subscribe


def public_components(page: Page):
    return (
        Component.objects.for_page(page)
        .public()
        .select_related("group")
        .order_by("group__position", "position")
    )


class ComponentChoice(ComponentIdsField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj):
        return f"{obj.group.name} / {obj.name}" if obj.group_id else obj.name


class SubscribeForm(forms.Form):
    # Radio buttons: the template renders each choice as its own labelled input (a Select would render
    # bare <option>s there, and a browser could not choose the kind at all).
    kind = forms.ChoiceField(
        choices=[("email", "Email"), ("webhook", "Webhook")], initial="email", widget=forms.RadioSelect
    )
    email = forms.EmailField(required=False, label="Email address")
    endpoint = forms.URLField(required=False, label="Webhook URL", max_length=2000, assume_scheme="https")
    failure_email = forms.EmailField(
        required=False,
        label="Email for failure notices",
        help_text="Optional: told if the webhook keeps failing.",
    )
    webhook_format = forms.ChoiceField(
        choices=WebhookFormat.choices, initial=WebhookFormat.STATUSPAGE, label="Format", required=False
    )
    components = ComponentChoice(
        queryset=Component.objects.none(),
        required=False,
        help_text="Leave all unticked to hear of everything on the page.",
    )

    def __init__(self, *args, page: Page, **kwargs):
        super().__init__(*args, **kwargs)
        self.page = page
        self.fields["components"].queryset = public_components(page)

    @property
    def is_webhook(self) -> bool:
        return self.cleaned_data["kind"] == "webhook"

    def sign_up(self, *, ip: str):
        """Subscribe what a valid form describes, within the sign-up limits (the public form and the public
        API share one budget). Returns the subscriber; raises RateLimited, or ValidationError from the
        service (e.g. a webhook aimed at a private address)."""
        data = self.cleaned_data
        address = data["endpoint"] if self.is_webhook else data["email"]
        check_sign_up(self.page, ip=ip, address=address)
        return subscribe(
            page=self.page,
            email=data["failure_email"] if self.is_webhook else data["email"],
            endpoint=data["endpoint"] if self.is_webhook else "",
            webhook_format=data["webhook_format"],
            components=data["components"],
        )

    def clean(self):
        data = super().clean()
        data["webhook_format"] = data.get("webhook_format") or WebhookFormat.STATUSPAGE
        if data.get("kind") == "webhook":
            if not data.get("endpoint") and "endpoint" not in self.errors:
                self.add_error("endpoint", "Enter the URL that should receive the notifications.")
        elif not data.get("email") and "email" not in self.errors:
            self.add_error("email", "Enter your email address.")
        return data


class ManageForm(forms.Form):
    components = ComponentChoice(
        queryset=Component.objects.none(),
        required=False,
        help_text="Leave all unticked to hear of everything on the page.",
    )

    def __init__(self, *args, page: Page, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["components"].queryset = public_components(page)
