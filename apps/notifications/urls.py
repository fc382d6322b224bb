from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("webhooks/", views.webhooks_page, name="webhooks"),
    path("webhooks/<int:webhook_id>/switch/", views.webhook_switch, name="webhook_switch"),
    path("webhooks/<int:webhook_id>/secret/", views.webhook_secret, name="webhook_secret"),
    path("webhooks/<int:webhook_id>/delete/", views.webhook_delete, name="webhook_delete"),
]
