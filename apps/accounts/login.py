"""The sign-in page: the provider's button when single sign-on is configured, the password form
unless password sign-in is off, in which case password sign-ins are refused (the admin's too)."""

from typing import Any

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from .sso_config import password_login, sso_config

PASSWORD_OFF = "Password sign-in is turned off here; sign in with {name}."


class LoginView(auth_views.LoginView):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        config = sso_config()
        context["sso_name"] = config.name if config is not None else ""
        context["password_login"] = password_login()
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not password_login():
            # Answered before any authentication, so it counts for no lockout either.
            self.object = None
            context = self.get_context_data(form=self.get_form())
            config = sso_config()
            context["refusal"] = PASSWORD_OFF.format(
                name=config.name if config is not None else "single sign-on"
            )
            return self.render_to_response(context, status=403)
        response: HttpResponse = super().post(request, *args, **kwargs)
        return response


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's own sign-in form, unless password sign-in is off: then our sign-in page."""
    if password_login():
        response: HttpResponse = admin.site.login(request)
        return response
    next_url = request.GET.get("next", reverse("admin:index"))
    return HttpResponseRedirect(f"{reverse('login')}?{urlencode({'next': next_url})}")
