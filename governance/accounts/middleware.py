"""Per-request reads of the signed-in user."""

from __future__ import annotations


class RequestRoleCacheMiddleware:
    """On admin pages, the signed-in user's roles are read once per request: a page asks the one role
    rule (``accounts.roles.has_role``) many times (navigation, cards, each request's signing rule), and
    each would otherwise query the user's groups. The cache lives on that request's user object only,
    so the next request reads the roles afresh (a role removed takes effect at once)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/admin/"):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                user._cache_role_names = True
        return self.get_response(request)
