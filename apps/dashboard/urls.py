from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns: list = [
    path("dashboard/", views.home, name="home"),
    path("dashboard/live/", views.live, name="live"),
    path("dashboard/stop-the-line/", views.stop_line, name="stop_line"),
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/feed/", views.calendar_feed_new, name="calendar_feed_new"),
    path("calendar/feed/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
]
