from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from apps.accounts import login
from apps.pages import urls as pages
from apps.releases import urls as releases

urlpatterns = [
    path("admin/login/", login.admin_login),
    path("admin/", admin.site.urls),
    path("accounts/login/", login.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("oidc/", include("mozilla_django_oidc.urls")),
    # Where a set-password link lands (apps.accounts.people.set_password_link).
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("api/", include("config.api_urls")),
    path("", include("apps.demo.urls")),
    path("", include((pages.signoff_patterns, "signoffs"))),
    path("environments/", include("apps.environments.urls")),
    path("incidents/", include("apps.incidents.urls")),
    path("audit/", include((pages.audit_patterns, "audit"))),
    path("notifications/", include("apps.notifications.urls")),
    path("account/", include("apps.accounts.urls")),
    path("people/", include((pages.people_patterns, "people"))),
    path("", include("apps.dashboard.urls")),
    path("", include("apps.rollouts.urls")),
    path("", include((releases.urlpatterns + pages.release_patterns, "releases"))),
]

handler400 = "apps.core.views.bad_request"
handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.error"
