"""Console forms for incidents. They parse and validate input; the services decide and write."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from components.models import Component, ComponentStatus
from incidents.models import Impact, Incident, IncidentStatus, IncidentTemplate
from incidents.services import DEFAULT_BODIES
from statuspage.models import Page, Role

KEEP = ""


class ComponentStatusesMixin:
    """One select per component of the page ("not affected", or the status to set), named comp_<code>."""

    def add_component_fields(
        self, page: Page, initial: dict[str, str] | None = None, keep_label: str = ""
    ) -> None:
        self.page_components = list(
            Component.objects.for_page(page).select_related("group").order_by("position")
        )
        for c in self.page_components:
            choices = [(KEEP, keep_label or "Not affected"), *list(ComponentStatus.choices)]
            self.fields[f"comp_{c.code}"] = forms.ChoiceField(
                label=f"{c.group.name} / {c.name}" if c.group_id else c.name,
                choices=choices,
                required=False,
                initial=(initial or {}).get(c.code, KEEP),
            )

    def component_statuses(self) -> dict[Component, str]:
        return {
            c: self.cleaned_data[f"comp_{c.code}"]
            for c in self.page_components
            if self.cleaned_data.get(f"comp_{c.code}")
        }

    def component_fields(self):
        return [self[f"comp_{c.code}"] for c in self.page_components]


def commander_choices(page: Page):
    users = (
        get_user_model()
        .objects.filter(memberships__page=page, memberships__role__in=[Role.OWNER, Role.COMMANDER])
        .order_by("username")
    )
    return [(u.pk, u.get_username()) for u in users]


class IncidentForm(ComponentStatusesMixin, forms.Form):
    name = forms.CharField(label="Title", max_length=200)
    status = forms.ChoiceField(choices=IncidentStatus.choices[:3], initial=IncidentStatus.INVESTIGATING)
    body = forms.CharField(
        label="Message",
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text="Markdown. Empty: the status's default text.",
    )
    impact_override = forms.ChoiceField(
        label="Impact",
        required=False,
        choices=[("", "Computed from the components")]
        + [c for c in Impact.choices if c[0] != Impact.MAINTENANCE],
    )
    commander = forms.TypedChoiceField(coerce=int, label="Incident commander")
    deliver_notifications = forms.BooleanField(label="Notify subscribers", required=False, initial=True)

    def __init__(self, *args, page: Page, user, template: IncidentTemplate | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["commander"].choices = commander_choices(page)
        self.fields["commander"].initial = user.pk
        initial = {}
        if template is not None:
            self.fields["name"].initial = template.title
            self.fields["body"].initial = template.body
            self.fields["status"].initial = template.status
            self.fields["deliver_notifications"].initial = template.deliver_notifications
            initial = {c.code: template.component_status for c in template.components.all()}
        self.add_component_fields(page, initial)

    def commander_user(self):
        return get_user_model().objects.get(pk=self.cleaned_data["commander"])


class BackfillForm(ComponentStatusesMixin, forms.Form):
    name = forms.CharField(label="Title", max_length=200)
    body = forms.CharField(label="What happened", widget=forms.Textarea(attrs={"rows": 4}))
    started_at = forms.DateTimeField(
        label="Started", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    resolved_at = forms.DateTimeField(
        label="Resolved", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args, page: Page, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_component_fields(page, keep_label="Not affected")
        for c in self.page_components:
            self.fields[f"comp_{c.code}"].choices = [(KEEP, "Not affected")] + [
                ch for ch in ComponentStatus.choices if ch[0] != ComponentStatus.OPERATIONAL
            ]

    def clean(self):
        data = super().clean()
        start, end = data.get("started_at"), data.get("resolved_at")
        if start and end and end <= start:
            self.add_error("resolved_at", "An incident resolves after it starts.")
        return data


class UpdateForm(ComponentStatusesMixin, forms.Form):
    status = forms.ChoiceField(choices=IncidentStatus.choices)
    body = forms.CharField(
        label="Message",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="Markdown. Empty: the status's default text.",
    )
    deliver_notifications = forms.BooleanField(label="Notify subscribers", required=False, initial=True)
    restore_components = forms.BooleanField(
        label="When resolving, return the affected components to Operational", required=False, initial=True
    )
    seen_update = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, incident: Incident, **kwargs):
        self.incident = incident
        super().__init__(*args, **kwargs)
        latest = incident.updates.order_by("-created_at", "-id").first()
        self.fields["seen_update"].initial = latest.code if latest else ""
        self.fields["status"].initial = incident.status
        self.fields["body"].widget.attrs["placeholder"] = DEFAULT_BODIES.get(incident.status, "")
        affected = {c.pk for c in incident.components.all()}
        current = {c.code: c.status for c in Component.objects.for_page(incident.page) if c.pk in affected}
        self.add_component_fields(incident.page, current, keep_label="Leave as is")
        self.affected_codes = set(current)
        if incident.is_maintenance:
            from incidents.models import MaintenanceStatus

            self.fields["status"].choices = MaintenanceStatus.choices

    def component_statuses(self) -> dict[Component, str]:
        """The statuses chosen; when resolving with "return to Operational", affected components left as
        they were are set back to operational."""
        statuses = super().component_statuses()
        data = self.cleaned_data
        if data.get("status") == IncidentStatus.RESOLVED and data.get("restore_components"):
            for c in self.page_components:
                untouched = statuses.get(c, c.status) == c.status
                if c.code in self.affected_codes and untouched:
                    statuses[c] = ComponentStatus.OPERATIONAL
        return statuses


class EditUpdateForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}))
    display_at = forms.DateTimeField(
        label="Shown as posted at", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


class HandoverForm(forms.Form):
    commander = forms.TypedChoiceField(coerce=int, label="New incident commander")

    def __init__(self, *args, page: Page, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["commander"].choices = commander_choices(page)

    def commander_user(self):
        return get_user_model().objects.get(pk=self.cleaned_data["commander"])


class PostmortemForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 16}), help_text="Markdown.")
    notify = forms.BooleanField(label="Notify subscribers when publishing", required=False)


class TemplateForm(forms.ModelForm):
    class Meta:
        model = IncidentTemplate
        fields = [
            "name",
            "title",
            "body",
            "status",
            "components",
            "component_status",
            "deliver_notifications",
        ]
        widgets = {"components": forms.CheckboxSelectMultiple, "body": forms.Textarea(attrs={"rows": 5})}
        help_texts = {"body": "Markdown. $page is replaced with the page's name when the template is used."}

    def __init__(self, *args, page: Page, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.page = page
        self.fields["components"].queryset = Component.objects.for_page(page)
