"""Who may do what in the console. Every console view names the least role it needs; the decorator loads
the page from the URL *through the user's memberships*, so a page the user does not belong to is a 404
(nothing revealed), and a role too low for the view is a 403."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from statuspage.auth import two_factor
from statuspage.models import Membership, Role

RANK = {Role.VIEWER: 0, Role.COMMANDER: 1, Role.OWNER: 2}


def allows(role: str, needed: str) -> bool:
    return RANK[Role(role)] >= RANK[Role(needed)]


def member_required(needed: str = Role.VIEWER):
    """Decorate a console view taking `page_slug`: sets request.page and request.membership."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, page_slug: str, *args, **kwargs):
            membership = (
                Membership.objects.select_related("page")
                .filter(page__slug=page_slug, user=request.user)
                .first()
            )
            if membership is None:
                raise Http404("No such page")
            if not allows(membership.role, needed):
                raise PermissionDenied(f"This needs the {needed} role on {membership.page.name}.")
            if membership.page.require_two_factor and not two_factor.is_verified(request):
                # The page's owners require a second factor: set it up, or confirm this session with it.
                query = urlencode({"next": request.get_full_path()})
                return redirect(f"{reverse('console:security')}?{query}")
            request.page = membership.page
            request.membership = membership
            # Times in the console read in the page's zone, as on its public side.
            with timezone.override(membership.page.tz):
                return view(request, *args, **kwargs)

        wrapper.min_role = needed  # read by the role-matrix test
        return wrapper

    return decorator
