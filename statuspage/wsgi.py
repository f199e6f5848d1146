"""The WSGI application: Django, behind the public fast path (statuspage/fastpath.py) unless
FAST_PATH_ENABLED=false."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "statuspage.settings")
django_application = get_wsgi_application()


def _application():
    from django.conf import settings

    if not settings.FAST_PATH_ENABLED:
        return django_application
    from statuspage.fastpath import FastPath

    return FastPath(django_application)


application = _application()
