"""CSRF tokens for every dashboard form, tied to the session cookie.

The token is an HMAC of the session cookie under the session key: a page
from this session carries it, a page on another site cannot read it
(SameSite=Strict is the first wall, this is the second), and it changes
with every login, so a token from a logged-out session is worthless.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from equity_connect.errors import DomainError
from equity_connect.web.auth import SESSION_COOKIE, session_key
from equity_connect.web.state import state_of

# The form field every dashboard form posts its token in. Each form route takes it
# with a default of "" so that a form without it reaches check_csrf and gets the
# stale-form page (what to do), not a validation error about a missing field.
CSRF_FIELD = "csrf"


def csrf_token(request: Request) -> str:
    """The CSRF token for this request's session (put it in every form)."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    key = session_key(state_of(request))
    return hmac.new(key, b"csrf|" + cookie.encode(), hashlib.sha256).hexdigest()


def check_csrf(request: Request, token: str | None) -> None:
    """403 unless ``token`` is this session's CSRF token."""
    if not request.cookies.get(SESSION_COOKIE) or not token:
        raise DomainError(403, "bad_csrf", "the form is stale; reload the page and submit again")
    if not hmac.compare_digest(token, csrf_token(request)):
        raise DomainError(403, "bad_csrf", "the form is stale; reload the page and submit again")
