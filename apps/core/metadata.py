"""The API's answer to OPTIONS. Kept apart from apps.core.api: DRF imports it while it is itself
being imported (DEFAULT_METADATA_CLASS), so this module must not import DRF views."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request, clone_request


class ApiMetadata(SimpleMetadata):
    """DRF's OPTIONS answer (name, description, what the writes take) without loading the
    object: views of a release's single sub-resource (its review, plan, policy) have no
    queryset of their own, and OPTIONS must not depend on one existing."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        actions = {}
        for method in {"PUT", "POST"} & set(view.allowed_methods):
            view.request = clone_request(request, method)
            try:
                view.check_permissions(view.request)
            except (exceptions.APIException, PermissionDenied, Http404):
                continue
            finally:
                view.request = request
            serializer_class = getattr(view, "serializer_class", None)
            if serializer_class is not None:
                actions[method] = self.get_serializer_info(serializer_class())
        return actions
