"""How API lists page and filter. Its own module: DRF imports these while DRF itself is being
imported, so nothing here may import DRF views."""

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class FilterBackend(filters.DjangoFilterBackend):
    """django-filter, skipped when the request asks for no filtering at all: building the
    filter form costs more than the rest of a plain list request."""

    # DRF hands filter backends its Request; django-filter's stubs say HttpRequest.
    def filter_queryset(  # type: ignore[override]
        self, request: Request, queryset: QuerySet[Any], view: "APIView"
    ) -> QuerySet[Any]:
        if not request.query_params:
            return queryset
        return super().filter_queryset(request, queryset, view)
