"""The second factor: a TOTP authenticator app (django-otp's TOTP device) plus single-use recovery codes
(django-otp's static device). A member enrols from their account's security page: the secret is shown as a
QR code (SVG drawn here by segno, no outside service) and as text, and a code from the app confirms it; the
recovery codes are shown once, then. Enrolment and removal are audited on every page the member belongs to.
"""

from __future__ import annotations

import re
from base64 import b32encode

import segno
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from statuspage.models import Page
from statuspage.services import Actor, record_audit

RECOVERY_CODES = 10
APP_DEVICE = "Authenticator app"
RECOVERY_DEVICE = "Recovery codes"


def is_enrolled(user: AbstractBaseUser) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def is_verified(request: HttpRequest) -> bool:
    """Whether this session signed in with the second factor (django-otp's middleware sets it)."""
    user = request.user
    return bool(user.is_authenticated and getattr(user, "is_verified", lambda: False)())


def pending_device(user: AbstractBaseUser) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


def start_enrolment(*, user: AbstractBaseUser) -> TOTPDevice:
    """A new, unconfirmed authenticator for `user` (replacing an earlier unconfirmed one)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=APP_DEVICE, confirmed=False)


def secret_text(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// address as an inline SVG QR code."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#111", light="#fff")


def confirm_enrolment(*, user: AbstractBaseUser, device: TOTPDevice, code: str) -> list[str]:
    """Confirm the pending authenticator with a code from the app. Returns fresh recovery codes (shown once:
    only django-otp's rows keep them). Any earlier authenticator is replaced. One transaction; audited."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user, confirmed=False)
        if not device.verify_token(_digits(code)):
            raise ValidationError({"code": "That code is not right. Enter the six digits the app shows now."})
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_recovery_codes(user)
        _audit(user, "member.two_factor_enabled")
    return codes


def regenerate_recovery_codes(*, user: AbstractBaseUser) -> list[str]:
    """Replace the recovery codes (the old ones stop working). One transaction; audited."""
    with transaction.atomic():
        codes = _new_recovery_codes(user)
        _audit(user, "member.recovery_codes_replaced")
    return codes


def remove(*, user: AbstractBaseUser) -> None:
    """Turn the second factor off for `user`. One transaction; audited."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        _audit(user, "member.two_factor_removed")


def verify(user: AbstractBaseUser, code: str) -> Device | None:
    """The device that accepts `code` (a code from the app, or an unused recovery code), or None. A recovery
    code is used up. django-otp's own per-device throttle applies as well as ours."""
    code = (code or "").strip()
    if not code or len(code) > 32:
        return None
    with transaction.atomic():
        if re.fullmatch(r"[\d\s-]+", code):
            devices = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
            token = _digits(code)
        else:
            devices = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True)
            token = re.sub(r"[\s-]", "", code).lower()
        for device in devices:
            if device.verify_token(token):
                return device
    return None


def recovery_codes_left(user: AbstractBaseUser) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _digits(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "")[:10]


def _new_recovery_codes(user: AbstractBaseUser) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def _audit(user: AbstractBaseUser, action: str) -> None:
    for page in Page.objects.for_user(user):
        record_audit(
            page=page, actor=Actor.of(user), action=action, obj=user, after={"user": user.get_username()}
        )
