from django.apps import AppConfig


class SignoffsConfig(AppConfig):
    name = "apps.signoffs"
    label = "signoffs"
