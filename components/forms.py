"""Console forms for components."""

from __future__ import annotations

from django import forms

from components.models import Component, DependencyKind


class ComponentIdsField(forms.ModelMultipleChoiceField):
    """Components chosen by primary key. A key that is not a whole number the database can hold is refused
    as an invalid choice before it reaches a query: Django passes "99999999999999999999" through to the
    database, where it overflows (a 500) instead of simply not matching. (Chosen by code, with
    `to_field_name`, any string is safe to look up.)"""

    MAX_ID = 2**63 - 1

    def clean(self, value):
        if self.to_field_name is None and isinstance(value, list | tuple):
            for pk in value:
                text = str(pk)
                if not (text.isascii() and text.isdigit() and int(text) <= self.MAX_ID):
                    raise forms.ValidationError(
                        self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                    )
        return super().clean(value)


class DependencyForm(forms.Form):
    """Add a dependency between the component shown and another one of its page, either way round."""

    UPSTREAM, DOWNSTREAM = "upstream", "downstream"

    direction = forms.ChoiceField(
        choices=[(UPSTREAM, "This component depends on"), (DOWNSTREAM, "This component is needed by")],
        initial=UPSTREAM,
    )
    other = forms.ChoiceField(label="Component")
    kind = forms.ChoiceField(
        choices=DependencyKind.choices,
        initial=DependencyKind.HARD,
        help_text="Hard: goes down with it. Soft: degrades when it is down.",
    )

    def __init__(self, *args, component: Component, candidates: list[Component], **kwargs):
        super().__init__(*args, **kwargs)
        self.component = component
        self.by_code = {c.code: c for c in candidates if c.pk != component.pk}
        self.fields["other"].choices = [("", "Choose a component")] + [
            (c.code, c.name + ("" if c.is_public else " (internal)")) for c in self.by_code.values()
        ]

    def clean_other(self) -> Component:
        return self.by_code[self.cleaned_data["other"]]

    def edge(self) -> tuple[Component, Component]:
        """(dependent, upstream) as chosen."""
        other = self.cleaned_data["other"]
        if self.cleaned_data["direction"] == self.UPSTREAM:
            return self.component, other
        return other, self.component
