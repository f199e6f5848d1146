"""Mail the console sends to team members (not subscribers)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from statuspage.models import Membership

log = logging.getLogger(__name__)


def password_link(user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.SITE_URL + reverse("console:password_reset_confirm", args=[uid, token])


def send_invitation(membership_id: int, invited_by: str) -> None:
    membership = Membership.objects.select_related("page", "user").filter(pk=membership_id).first()
    if membership is None:
        log.warning("invitation for a removed membership %s", membership_id)
        return
    user, page = membership.user, membership.page
    body = render_to_string(
        "email/invitation.txt",
        {
            "user": user,
            "page": page,
            "role": membership.get_role_display(),
            "by": invited_by,
            "link": password_link(user)
            if not user.has_usable_password()
            else f"{settings.SITE_URL}/console/",
        },
    )
    send_mail(f"You have been added to {page.name} status page", body, None, [user.email])
