"""Audit endpoints: read the append-only event stream and export it."""

from collections.abc import Iterable
from typing import Any

from django.http import StreamingHttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from apps.core.api import ApiMixin, ApiView, DateTimeRangeFilter, IdFilter
from apps.core.lists import FilterBackend

from .exports import csv_rows, export_checkpoint, json_chunks
from .models import AuditEvent
from .selectors import events_visible_to, visibility_filter


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label", read_only=True)
    before = serializers.JSONField(read_only=True, allow_null=True)
    after = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor",
            "actor_id",
            "verb",
            "object_type",
            "object_id",
            "release_id",
            "before",
            "after",
            "reason",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


class AuditEventFilter(filters.FilterSet):
    release = IdFilter(field_name="release_id")
    verb = filters.CharFilter()
    verb_prefix = filters.CharFilter(field_name="verb", lookup_expr="startswith")
    actor = filters.CharFilter(field_name="actor_label", label="Username, or system.")
    object_type = filters.CharFilter()
    object_id = filters.CharFilter()
    at = DateTimeRangeFilter()

    class Meta:
        model = AuditEvent
        fields: list[str] = []


class AuditEventListView(ApiMixin, generics.ListAPIView):
    """Every change of state, oldest first: who, what, when, before/after, why. Read-only."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter

    def get_queryset(self) -> Any:
        return events_visible_to(self.request.user, AuditEvent.objects.all())

    ordering_fields = ["id", "at"]
    ordering = ["id"]


class AuditEventDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    lookup_url_kwarg = "id"

    def get_queryset(self) -> Any:
        return events_visible_to(self.request.user, AuditEvent.objects.all())


class FirstRendererNegotiation(BaseContentNegotiation):
    """Downloads choose their format by `?as=`; errors are always JSON, whatever Accept says."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        first = list(renderers)[0]
        return first, first.media_type


class AuditExportView(ApiView):
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    filter_backends = [FilterBackend]
    pagination_class = None
    content_negotiation_class = FirstRendererNegotiation

    def get_queryset(self) -> Any:
        return events_visible_to(self.request.user, AuditEvent.objects.order_by("id"))

    @extend_schema(
        operation_id="audit_events_export",
        filters=True,
        parameters=[
            OpenApiParameter(
                "as",
                OpenApiTypes.STR,
                enum=["csv", "json"],
                default="json",
                description="File format.",
            )
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="One row per event, with a header row."
            ),
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="`{format, exported_at, filters, complete, checkpoint, events}`.",
            ),
        },
        description="Download the matching events (all of one release with `?release=`), "
        "oldest first. CSV is for reading. JSON is one document: `events` with every field "
        "their hashes cover, the `filters` used, and a signed `checkpoint` of the chain's head "
        "written for this export; an unfiltered JSON export is checked offline with "
        "`manage.py audit_verify --file` or docs/audit_verify.py (recipe in the README).",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        fmt = request.query_params.get("as", "json")
        if fmt not in ("csv", "json"):
            raise serializers.ValidationError({"as": ["Must be csv or json."]})
        events = self.filter_queryset(self.get_queryset())
        if fmt == "csv":
            response = StreamingHttpResponse(csv_rows(events), content_type="text/csv")
        else:
            checkpoint, refused = export_checkpoint()
            filters = {
                k: v
                for k, v in request.query_params.items()
                if k != "as" and isinstance(v, str) and v
            } | visibility_filter(request.user)
            response = StreamingHttpResponse(
                json_chunks(events, filters=filters, checkpoint=checkpoint, refused=refused),
                content_type="application/json",
            )
        response["Content-Disposition"] = f'attachment; filename="audit-events.{fmt}"'
        return response
