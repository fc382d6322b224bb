from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.audit_page, name="page"),
    path("live/", views.audit_live, name="live"),
    path("export/", views.audit_export, name="export"),
    path("releases/", views.audit_release_options, name="release-options"),
    path("verify/", views.audit_verify_chain, name="verify"),
]
