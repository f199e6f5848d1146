"""Sign-in and second-factor forms. Throttling runs inside `clean()`, before any password is checked."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from statuspage.auth import throttle
from statuspage.clients import client_address


class LoginForm(AuthenticationForm):
    """Django's sign-in form behind the throttle: a locked username or address is refused with the time to
    come back, whatever the password; every failure counts."""

    def clean(self):
        username = self.cleaned_data.get("username") or self.data.get("username", "")
        address = client_address(self.request)
        lock = throttle.locked(username=username, address=address)
        if lock is not None:
            raise ValidationError(lock.message, code="locked")
        try:
            return super().clean()
        except ValidationError:
            lock = throttle.record_failure(username=username, address=address)
            if lock is not None:
                raise ValidationError(lock.message, code="locked") from None
            raise


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The six digits your authenticator app shows, or one of your recovery codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "text"}
        ),
    )


class ConfirmDeviceForm(forms.Form):
    code = forms.CharField(
        label="Code from the app",
        max_length=10,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*"}
        ),
    )


class PasswordCheckForm(forms.Form):
    """Asks for the account's password again before the second factor is turned off or its codes replaced."""

    password = forms.CharField(
        label="Your password", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError("That is not your password.")
        return password
