from django.urls import path

from . import views

app_name = "incidents"

urlpatterns = [
    path("freezes/<int:freeze_id>/lift/", views.freeze_lift, name="freeze_lift"),
]
