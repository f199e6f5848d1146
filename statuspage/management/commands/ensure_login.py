"""Create the demo login once (a superuser who owns the demo page); later runs change nothing."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from statuspage.models import Page, Role
from statuspage.services import SYSTEM, add_member

DEFAULT_USERNAME = "demo"
DEFAULT_PASSWORD = "demo-password-change-me"  # noqa: S105 - the documented demo login, printed by make run


class Command(BaseCommand):
    help = "Create the demo login (a superuser owning the demo page) unless it exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=DEFAULT_USERNAME)
        parser.add_argument("--password", default=DEFAULT_PASSWORD)
        parser.add_argument("--email", default="demo@example.com")

    def handle(self, *args, username, password, email, **options):
        User = get_user_model()
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_superuser(username=username, email=email, password=password)
                self.stdout.write(f"Created the login {username}.")
            page = Page.objects.filter(slug="demo").first()
            if page is not None and not page.memberships.filter(user=user, role=Role.OWNER).exists():
                add_member(actor=SYSTEM, page=page, user=user, role=Role.OWNER)
