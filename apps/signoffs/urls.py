from django.urls import path

from . import views

app_name = "signoffs"

urlpatterns = [
    path("releases/<int:release_id>/sign/", views.signoff_page, name="page"),
    path("releases/<int:release_id>/sign/live/", views.signoff_live, name="live"),
    path("releases/<int:release_id>/sign/waves/<int:wave_id>/", views.wave_sign, name="wave_sign"),
]
