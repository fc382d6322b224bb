from django.urls import path

from .views import demo_health

urlpatterns = [
    path("demo/health", demo_health, name="demo-health"),
]
