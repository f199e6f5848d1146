"""Console forms for incidents. They parse and validate input; the services decide and write."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from components.forms import ComponentIdsField
from components.models import Component, ComponentStatus
from incidents.models import Impact, Incident, IncidentStatus, IncidentTemplate
from incidents.services import DEFAULT_BODIES
from statuspage.models import Page, Role


class MomentField(forms.DateTimeField):
    """A local date and time a status page can mean: from 1970 to 2099, as the API's Moment. Anything else
    is a typo, and near the ends of the calendar the conversion from the page's zone to UTC overflows."""

    default_error_messages = {"range": "Give a time between 1970 and 2100."}

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is not None and not 1970 <= moment.year < 2100:
            raise forms.ValidationError(self.error_messages["range"], code="range")
        return moment


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
    started_at = MomentField(label="Started", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    resolved_at = MomentField(label="Resolved", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

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
    display_at = MomentField(
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
        field_classes = {"components": ComponentIdsField}  # refuses ids too large for the database
        help_texts = {"body": "Markdown. $page is replaced with the page's name when the template is used."}

    def __init__(self, *args, page: Page, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.page = page
        self.fields["components"].queryset = Component.objects.for_page(page)


# --- Scheduled maintenance and change review --------------------------------------------------------


def parse_reminders(text: str) -> list[int]:
    """ "60, 15" → [60, 15]; "" → [] (no reminders). Raises forms.ValidationError on anything else."""
    items = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    if not all(item.isdigit() for item in items):
        raise forms.ValidationError("Give whole minutes before the start, separated by commas, e.g. 60, 15.")
    return [int(item) for item in items]


class ComponentsChoiceField(ComponentIdsField):
    """The page's components as checkboxes, internal ones marked (their names never reach the public)."""

    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Component) -> str:
        name = f"{obj.group.name} / {obj.name}" if obj.group_id else obj.name
        return (
            name if obj.is_public and (obj.group_id is None or obj.group.is_public) else f"{name} (internal)"
        )


def page_components(page: Page):
    return Component.objects.for_page(page).select_related("group").order_by("position", "id")


LOCAL_DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
WEEKDAY_CHOICES = [(i, name) for i, name in enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])]
RECURRENCE_CHOICES = [
    ("", "Once"),
    ("weekly", "Every week"),
    ("monthly_day", "Every month, on the same day of the month"),
    ("monthly_weekday", "Every month, on the same weekday (e.g. the first Sunday)"),
]
MONTH_WEEK_CHOICES = [
    ("", "As the first window"),
    (1, "First"),
    (2, "Second"),
    (3, "Third"),
    (4, "Fourth"),
    (-1, "Last"),
]


class MaintenanceSettingsMixin(forms.Form):
    reminders = forms.CharField(
        label="Remind subscribers before the start",
        required=False,
        initial="60",
        help_text="Minutes before the start, separated by commas (60, 15). Empty: no reminders.",
    )
    auto_start = forms.BooleanField(
        label="Start automatically: components go under maintenance", required=False, initial=True
    )
    auto_complete = forms.BooleanField(
        label="Complete automatically: components return to their status before", required=False, initial=True
    )
    notify_at_start = forms.BooleanField(
        label="Notify subscribers when it starts", required=False, initial=True
    )
    notify_at_end = forms.BooleanField(
        label="Notify subscribers when it completes", required=False, initial=True
    )

    def clean_reminders(self) -> list[int]:
        return parse_reminders(self.cleaned_data.get("reminders") or "")

    CHECKBOXES = ("deliver_notifications", "auto_start", "auto_complete", "notify_at_start", "notify_at_end")

    def checkboxes(self):
        return [self[name] for name in self.CHECKBOXES if name in self.fields]


class MaintenanceForm(MaintenanceSettingsMixin):
    """Schedule a maintenance, once or recurring; times are in the page's zone (the console's current one)."""

    name = forms.CharField(label="Title", max_length=200)
    scheduled_for = MomentField(label="Starts", widget=LOCAL_DATETIME)
    scheduled_until = MomentField(label="Ends", widget=LOCAL_DATETIME)
    components = ComponentsChoiceField(
        queryset=Component.objects.none(), required=False, label="Affected components"
    )
    body = forms.CharField(
        label="Message",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="Markdown. Empty: “The scheduled maintenance has been planned.”",
    )
    deliver_notifications = forms.BooleanField(label="Notify subscribers now", required=False, initial=True)
    recurrence = forms.ChoiceField(label="Repeat", choices=RECURRENCE_CHOICES, required=False)
    interval = forms.IntegerField(
        label="Every",
        min_value=1,
        max_value=12,
        initial=1,
        required=False,
        help_text="Weeks or months between windows.",
    )
    weekdays = forms.TypedMultipleChoiceField(
        label="On",
        choices=WEEKDAY_CHOICES,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Weekly: the days of the week (default: the first window's).",
    )
    month_week = forms.TypedChoiceField(
        label="Which one",
        choices=MONTH_WEEK_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        help_text="Monthly on a weekday: the first, second... or last of the month.",
    )
    until = forms.DateField(
        label="Repeat until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: until stopped.",
    )

    def __init__(self, *args, page: Page, now=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.page = page
        self.now = now
        self.fields["components"].queryset = page_components(page)

    def clean(self):
        from django.utils import timezone

        data = super().clean()
        start, end = data.get("scheduled_for"), data.get("scheduled_until")
        if start and end and end <= start:
            self.add_error("scheduled_until", "The window must end after it starts.")
        if start and start <= (self.now or timezone.now()):
            self.add_error("scheduled_for", "A new maintenance must start in the future.")
        recurrence = data.get("recurrence")
        if recurrence == "weekly" and start and not data.get("weekdays"):
            data["weekdays"] = [start.astimezone(self.page.tz).weekday()]
        if recurrence == "monthly_day" and start and start.astimezone(self.page.tz).day > 28:
            self.add_error(
                "recurrence", "Monthly on a day of the month works for days 1 to 28; choose a weekday."
            )
        if recurrence == "monthly_weekday" and start and data.get("month_week") is None:
            day = start.astimezone(self.page.tz).day
            data["month_week"] = -1 if day > 28 else (day - 1) // 7 + 1
        return data


class MaintenanceEditForm(MaintenanceSettingsMixin):
    name = forms.CharField(label="Title", max_length=200)
    components = ComponentsChoiceField(
        queryset=Component.objects.none(),
        required=False,
        label="Affected components",
        help_text="Changing them after an approval asks for approval again.",
    )

    def __init__(self, *args, incident: Incident, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["components"].queryset = page_components(incident.page)
        if not self.is_bound:
            self.initial.update(
                name=incident.name,
                components=[c.pk for c in incident.components.all()],
                reminders=", ".join(str(m) for m in incident.reminders),
                auto_start=incident.auto_start,
                auto_complete=incident.auto_complete,
                notify_at_start=incident.notify_at_start,
                notify_at_end=incident.notify_at_end,
            )


class RescheduleForm(forms.Form):
    scheduled_for = MomentField(label="New start", widget=LOCAL_DATETIME)
    scheduled_until = MomentField(label="New end", widget=LOCAL_DATETIME)
    body = forms.CharField(label="Message", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    deliver_notifications = forms.BooleanField(label="Notify subscribers", required=False, initial=True)

    def clean(self):
        data = super().clean()
        start, end = data.get("scheduled_for"), data.get("scheduled_until")
        if start and end and end <= start:
            self.add_error("scheduled_until", "The window must end after it starts.")
        return data


class ExtendForm(forms.Form):
    scheduled_until = MomentField(label="New end", widget=LOCAL_DATETIME)
    body = forms.CharField(label="Message", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    deliver_notifications = forms.BooleanField(label="Notify subscribers", required=False, initial=True)


class MaintenanceStepForm(forms.Form):
    """Start, complete or cancel by hand, with an optional message."""

    body = forms.CharField(label="Message", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    deliver_notifications = forms.BooleanField(label="Notify subscribers", required=False, initial=True)


class MaintenanceUpdateForm(forms.Form):
    """A free update on a maintenance's timeline; its transitions are the start and complete buttons."""

    status = forms.ChoiceField(choices=[])
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 3}))
    deliver_notifications = forms.BooleanField(label="Notify subscribers", required=False, initial=True)

    def __init__(self, *args, incident: Incident, **kwargs):
        from incidents.models import MaintenanceStatus

        super().__init__(*args, **kwargs)
        allowed = [incident.status]
        if incident.status == MaintenanceStatus.IN_PROGRESS:
            allowed.append(MaintenanceStatus.VERIFYING)
        elif incident.status == MaintenanceStatus.VERIFYING:
            allowed.append(MaintenanceStatus.IN_PROGRESS)
        labels = dict(MaintenanceStatus.choices)
        self.fields["status"].choices = [(s, labels[s]) for s in allowed]
        self.fields["status"].initial = incident.status


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    comment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit log. Required to reject.",
    )


class ChangeRecordForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What changes, how, and how to undo it.",
    )
    components = ComponentsChoiceField(
        queryset=Component.objects.none(), required=False, label="Components it touches"
    )
    submit = forms.BooleanField(label="Ask for approval now", required=False, initial=True)

    def __init__(self, *args, page: Page, change=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["components"].queryset = page_components(page)
        if change is not None:
            del self.fields["submit"]
            if not self.is_bound:
                self.initial.update(
                    title=change.title,
                    description=change.description,
                    components=[c.pk for c in change.components.all()],
                )
