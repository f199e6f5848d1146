"""Short public ids like Statuspage's: 12 lowercase alphanumerics, never a sequential integer."""

import secrets
import string

ALPHABET = string.ascii_lowercase + string.digits
LENGTH = 12


def new_public_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
