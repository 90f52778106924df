"""Who may see what in the admin console: site admins and operators."""

from __future__ import annotations

import unicodedata

from forkable.accounts.service import Principal
from forkable.settings import Settings


def is_operator(settings: Settings, principal: Principal | None) -> bool:
    """An admin whose e-mail is in `FORKABLE_OPERATOR_EMAILS`: they also see every site.

    Being an admin is required too: anyone can sign up on any site with any address, so the
    e-mail alone proves nothing; `is_admin` is only ever set by the operator's command line.
    """
    if principal is None or not principal.is_admin:
        return False
    return unicodedata.normalize("NFKC", principal.email).lower() in settings.operator_emails
