from django.urls import path

from . import views

app_name = "releases"

urlpatterns: list = [
    path("", views.release_list, name="list"),
    path("releases/<int:release_id>/", views.release_detail, name="detail"),
    path("releases/<int:release_id>/live/", views.release_live, name="live"),
    path("releases/<int:release_id>/signoff/", views.signoff_submit, name="signoff"),
    path("releases/<int:release_id>/move/", views.move_submit, name="move"),
]
