"""Console forms for components."""

from __future__ import annotations

from django import forms

from components.models import Component, DependencyKind


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
