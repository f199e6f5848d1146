"""python manage.py create_api_key --page <slug> --role owner [--name deploys]: print a new management API
key for scripts and deployments. The key is shown once; only its digest is stored."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from statuspage.models import Page, Role
from statuspage.services import SYSTEM, create_api_key


class Command(BaseCommand):
    help = "Create an API key for a page and print it (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--page", required=True, help="the page's slug")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--name", default="command line", help="a name to tell the key apart")

    def handle(self, *args, page: str, role: str, name: str, **options):
        found = Page.objects.filter(slug=page).first()
        if found is None:
            raise CommandError(f"No page with the slug {page!r}.")
        try:
            key, raw = create_api_key(actor=SYSTEM, page=found, name=name, role=role)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(f"API key {key.name!r} ({key.role}) for {found.name}. It is shown only this once:")
        self.stdout.write(raw)
