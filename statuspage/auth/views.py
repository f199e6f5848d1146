"""Signing in (password, then the code when the account has a second factor) and the account's security
page (set up, confirm, replace recovery codes, turn off). Thin adapters over `throttle` and `two_factor`."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login

from statuspage.auth import throttle, two_factor
from statuspage.auth.forms import CodeForm, ConfirmDeviceForm, LoginForm, PasswordCheckForm
from statuspage.clients import client_address
from statuspage.models import Page

PENDING = "two_factor_pending"
PENDING_SECONDS = 300  # time between the password and the code


def _next_url(request: HttpRequest, value: str | None = None) -> str:
    value = value if value is not None else request.POST.get("next", request.GET.get("next", ""))
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@sensitive_post_parameters()
@csrf_protect
@never_cache
def login(request: HttpRequest) -> HttpResponse:
    """The password step. An account with a second factor goes on to the code step, signed in only after
    it; every other account is signed in here (the session key changes: `django.contrib.auth.login`)."""
    next_url = _next_url(request)
    if request.user.is_authenticated:
        return redirect(next_url)
    form = LoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        if two_factor.is_enrolled(user):
            request.session[PENDING] = {
                "user": user.pk,
                "backend": user.backend,
                "at": timezone.now().timestamp(),
                "next": next_url,
            }
            return redirect("console:login_code")
        auth_login(request, user)
        throttle.record_success(username=user.get_username())
        return redirect(next_url)
    return render(
        request,
        "console/auth/login.html",
        {
            "form": form,
            "next": request.POST.get("next", request.GET.get("next", "")),
            "signup_allowed": settings.ALLOW_SIGNUP,
        },
    )


@sensitive_post_parameters()
@csrf_protect
@never_cache
def login_code(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the app or a recovery code, throttled with the password's counts."""
    pending = request.session.get(PENDING)
    if not pending or timezone.now().timestamp() - pending["at"] > PENDING_SECONDS:
        request.session.pop(PENDING, None)
        messages.info(request, "Sign in again: the time to enter a code ran out.")
        return redirect("console:login")
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    if user is None:
        request.session.pop(PENDING, None)
        return redirect("console:login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        username, address = user.get_username(), client_address(request)
        lock = throttle.locked(username=username, address=address)
        device = None if lock else two_factor.verify(user, form.cleaned_data["code"])
        if device is None:
            lock = lock or throttle.record_failure(username=username, address=address)
            form.add_error("code", lock.message if lock else "That code is not right.")
        else:
            del request.session[PENDING]
            auth_login(request, user, backend=pending["backend"])
            otp_login(request, device)
            throttle.record_success(username=username)
            if device.name == two_factor.RECOVERY_DEVICE:
                left = two_factor.recovery_codes_left(user)
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {left} left. Replace them from Account security.",
                )
            return redirect(_next_url(request, pending["next"]))
    return render(request, "console/auth/login_code.html", {"form": form})


@login_required
@sensitive_post_parameters()
def security(request: HttpRequest) -> HttpResponse:
    """Account security: set up the second factor, confirm this session with it, replace recovery codes,
    turn it off. Also where a page that requires two-factor sends a member who has not set it up."""
    user = request.user
    next_url = request.POST.get("next", request.GET.get("next", ""))
    action = request.POST.get("action", "") if request.method == "POST" else ""
    enrolled = two_factor.is_enrolled(user)
    context: dict = {"enrolled": enrolled, "next": next_url, "codes": None}
    confirm_form = ConfirmDeviceForm(request.POST if action == "confirm" else None)
    verify_form = CodeForm(request.POST if action == "verify" else None)
    password_form = PasswordCheckForm(user, request.POST if action in ("remove", "recovery") else None)

    if action in ("start", "confirm") and enrolled:
        # Replacing the authenticator goes through turning it off, which asks for the password.
        messages.error(request, "Two-factor sign-in is already on. Turn it off first to set up another app.")
    elif action == "start":
        two_factor.start_enrolment(user=user)
    elif action == "confirm" and confirm_form.is_valid():
        device = two_factor.pending_device(user)
        if device is None:
            confirm_form.add_error(None, "Start the set-up again: there is nothing to confirm.")
        else:
            try:
                codes = two_factor.confirm_enrolment(
                    user=user, device=device, code=confirm_form.cleaned_data["code"]
                )
            except ValidationError as exc:
                confirm_form.add_error("code", exc.message_dict["code"])
            else:
                device.refresh_from_db()
                otp_login(request, device)
                messages.success(
                    request, "Two-factor sign-in is on. Keep your recovery codes somewhere safe."
                )
                context.update(enrolled=True, codes=codes)
    elif action == "verify" and verify_form.is_valid():
        username, address = user.get_username(), client_address(request)
        lock = throttle.locked(username=username, address=address)
        device = None if lock else two_factor.verify(user, verify_form.cleaned_data["code"])
        if device is None:
            lock = lock or throttle.record_failure(username=username, address=address)
            verify_form.add_error("code", lock.message if lock else "That code is not right.")
        else:
            otp_login(request, device)
            throttle.record_success(username=username)
            return redirect(_next_url(request, next_url) if next_url else "console:security")
    elif action in ("remove", "recovery"):
        if not two_factor.is_verified(request):
            password_form.add_error(None, "Confirm this session with a code first.")
        elif password_form.is_valid():
            if action == "remove":
                two_factor.remove(user=user)
                messages.success(request, "Two-factor sign-in is off.")
                return redirect("console:security")
            context["codes"] = two_factor.regenerate_recovery_codes(user=user)
            messages.success(request, "New recovery codes made; the old ones no longer work.")
        else:
            throttle.record_failure(username=user.get_username(), address=client_address(request))

    device = None if context["enrolled"] else two_factor.pending_device(user)
    context.update(
        device=device,
        secret=two_factor.secret_text(device) if device else "",
        qr=two_factor.qr_svg(device) if device else "",
        verified=two_factor.is_verified(request),
        codes_left=two_factor.recovery_codes_left(user) if context["enrolled"] else 0,
        confirm_form=confirm_form,
        verify_form=verify_form,
        password_form=password_form,
        requiring=Page.objects.for_user(user).filter(require_two_factor=True).order_by("name"),
    )
    return render(request, "console/account_security.html", context)
