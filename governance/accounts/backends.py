"""Authentication backends."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class AxesBackend(AxesStandaloneBackend):
    """django-axes' lockout check for logins that come with a request (the admin's login form).

    ``authenticate()`` without a request (a management command, the test client's ``login()``)
    is not a login attempt from the network; axes would raise for it, this backend passes it on
    to the next backend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
