from django.urls import path

from . import api

app_name = "releases"

api_urlpatterns = [
    path("releases/<int:release_id>/status/", api.release_status_view, name="api-status"),
]

urlpatterns: list = []
