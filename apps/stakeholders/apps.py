from django.apps import AppConfig


class StakeholdersConfig(AppConfig):
    name = "apps.stakeholders"
    label = "stakeholders"

    def ready(self) -> None:
        from apps.accounts.permissions import Action, register_release_grant

        from .selectors import is_qa_stakeholder

        register_release_grant(Action.CLOSE_BLOCKING_DEFECT, is_qa_stakeholder)
