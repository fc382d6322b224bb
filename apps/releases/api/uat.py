"""What a release holds while it is prepared and tested: checklist, test cases, defects,
and the post-release review."""

from typing import cast

from django.contrib.auth.models import User
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import (
    ApiMixin,
    ApiView,
    EnvironmentRefSerializer,
    error_responses,
    id_field,
    user_ref,
    validated,
)

from .. import services
from ..models import (
    ChecklistArea,
    ChecklistItem,
    Defect,
    ItemStatus,
    PostReleaseReview,
    Release,
    Severity,
    TestCase,
    TestStatus,
)
from .shared import ReleaseScopedMixin

# Checklist


class ChecklistItemSerializer(serializers.ModelSerializer):
    environment = EnvironmentRefSerializer(read_only=True)
    completed_by = user_ref()

    class Meta:
        model = ChecklistItem
        fields = [
            "id",
            "release",
            "environment",
            "area",
            "title",
            "status",
            "waive_reason",
            "completed_by",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ChecklistItemCreateSerializer(serializers.Serializer):
    environment = id_field()
    area = serializers.ChoiceField(choices=ChecklistArea.choices)
    title = serializers.CharField(max_length=300)


class ChecklistItemUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ItemStatus.choices)
    reason = serializers.CharField(
        max_length=2000, allow_blank=True, default="", help_text="Required to waive."
    )


class WaiveSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why this may be skipped.")


CHECKLIST = ChecklistItem.objects.select_related("environment", "completed_by")


class ChecklistListView(ApiMixin, ReleaseScopedMixin, generics.ListCreateAPIView):
    """Preparation steps per environment; all done or waived opens preparation → testing."""

    serializer_class = ChecklistItemSerializer
    filterset_fields = ["status", "area", "environment"]
    ordering_fields = ["id", "area", "status"]
    write_actions = {"POST": Action.UPDATE_CHECKLIST}

    queryset = CHECKLIST

    @extend_schema(
        request=ChecklistItemCreateSerializer,
        responses={201: ChecklistItemSerializer, **error_responses(400, 409)},
    )
    def post(self, request: Request, release_id: int) -> Response:
        data = validated(ChecklistItemCreateSerializer, request)
        item = services.checklist_item_add(
            release_id=release_id,
            environment_id=data["environment"],
            area=data["area"],
            title=data["title"],
            actor=cast(User, request.user),
        )
        return Response(
            ChecklistItemSerializer(CHECKLIST.get(pk=item.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class ChecklistDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = CHECKLIST
    serializer_class = ChecklistItemSerializer
    lookup_url_kwarg = "id"
    write_actions = {"PATCH": Action.UPDATE_CHECKLIST}

    @extend_schema(
        request=ChecklistItemUpdateSerializer,
        responses={200: ChecklistItemSerializer, **error_responses(400, 409)},
        description="Tick an item done, waive it (with a reason) or reopen it.",
    )
    def patch(self, request: Request, id: int) -> Response:
        data = validated(ChecklistItemUpdateSerializer, request)
        services.checklist_item_set(
            item_id=id,
            status=data["status"],
            reason=data["reason"],
            actor=cast(User, request.user),
        )
        return Response(ChecklistItemSerializer(CHECKLIST.get(pk=id)).data)


class ChecklistWaiveView(ApiView):
    serializer_class = ChecklistItemSerializer
    write_actions = {"POST": Action.UPDATE_CHECKLIST}

    @extend_schema(
        operation_id="checklist_items_waive",
        request=WaiveSerializer,
        responses={200: ChecklistItemSerializer, **error_responses(400, 409)},
    )
    def post(self, request: Request, id: int) -> Response:
        data = validated(WaiveSerializer, request)
        services.checklist_item_set(
            item_id=id,
            status=ItemStatus.WAIVED,
            reason=data["reason"],
            actor=cast(User, request.user),
        )
        return Response(ChecklistItemSerializer(CHECKLIST.get(pk=id)).data)


# Test cases


class TestCaseSerializer(serializers.ModelSerializer):
    recorded_by = user_ref()

    class Meta:
        model = TestCase
        fields = [
            "id",
            "release",
            "title",
            "steps",
            "status",
            "note",
            "recorded_by",
            "recorded_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TestCaseCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    steps = serializers.CharField(max_length=20000, required=False, allow_blank=True)


class TestCaseUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=TestStatus.choices)
    note = serializers.CharField(
        max_length=5000, allow_blank=True, default="", help_text="Required to waive."
    )


TEST_CASES = TestCase.objects.select_related("recorded_by")


class TestCaseListView(ApiMixin, ReleaseScopedMixin, generics.ListCreateAPIView):
    """UAT test cases; all passed or waived is part of the testing → rollout gate."""

    serializer_class = TestCaseSerializer
    filterset_fields = ["status"]
    ordering_fields = ["id", "status"]
    write_actions = {"POST": Action.RECORD_TEST}

    queryset = TEST_CASES

    @extend_schema(
        request=TestCaseCreateSerializer,
        responses={201: TestCaseSerializer, **error_responses(400, 409)},
    )
    def post(self, request: Request, release_id: int) -> Response:
        data = validated(TestCaseCreateSerializer, request)
        case = services.test_case_add(release_id=release_id, actor=cast(User, request.user), **data)
        return Response(
            TestCaseSerializer(TEST_CASES.get(pk=case.pk)).data, status=status.HTTP_201_CREATED
        )


class TestCaseDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = TEST_CASES
    serializer_class = TestCaseSerializer
    lookup_url_kwarg = "id"
    write_actions = {"PATCH": Action.RECORD_TEST}

    @extend_schema(
        request=TestCaseUpdateSerializer,
        responses={200: TestCaseSerializer, **error_responses(400, 409)},
        description="Record a result: passed, failed, not run, or waived (with a note).",
    )
    def patch(self, request: Request, id: int) -> Response:
        data = validated(TestCaseUpdateSerializer, request)
        services.test_case_record(
            case_id=id,
            status=data["status"],
            note=data["note"],
            actor=cast(User, request.user),
        )
        return Response(TestCaseSerializer(TEST_CASES.get(pk=id)).data)


class TestCaseWaiveView(ApiView):
    serializer_class = TestCaseSerializer
    write_actions = {"POST": Action.RECORD_TEST}

    @extend_schema(
        operation_id="test_cases_waive",
        request=WaiveSerializer,
        responses={200: TestCaseSerializer, **error_responses(400, 409)},
    )
    def post(self, request: Request, id: int) -> Response:
        data = validated(WaiveSerializer, request)
        services.test_case_record(
            case_id=id,
            status=TestStatus.WAIVED,
            note=data["reason"],
            actor=cast(User, request.user),
        )
        return Response(TestCaseSerializer(TEST_CASES.get(pk=id)).data)


# Defects


class DefectSerializer(serializers.ModelSerializer):
    opened_by = user_ref()
    closed_by = user_ref()

    class Meta:
        model = Defect
        fields = [
            "id",
            "release",
            "title",
            "severity",
            "status",
            "opened_by",
            "closed_by",
            "closed_at",
            "resolution",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DefectCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    severity = serializers.ChoiceField(choices=Severity.choices)


class DefectCloseSerializer(serializers.Serializer):
    resolution = serializers.CharField(
        max_length=5000,
        required=False,
        allow_blank=True,
        help_text="Required for a critical or blocker defect.",
    )


DEFECTS = Defect.objects.select_related("opened_by", "closed_by")


class DefectListView(ApiMixin, ReleaseScopedMixin, generics.ListCreateAPIView):
    """Defects found in UAT; an open critical or blocker one closes the testing → rollout gate."""

    serializer_class = DefectSerializer
    filterset_fields = ["status", "severity"]
    ordering_fields = ["id", "severity", "status", "created_at"]
    write_actions = {"POST": Action.MANAGE_DEFECTS}

    queryset = DEFECTS

    @extend_schema(
        request=DefectCreateSerializer,
        responses={201: DefectSerializer, **error_responses(400, 409)},
    )
    def post(self, request: Request, release_id: int) -> Response:
        data = validated(DefectCreateSerializer, request)
        defect = services.defect_open(release_id=release_id, actor=cast(User, request.user), **data)
        return Response(
            DefectSerializer(DEFECTS.get(pk=defect.pk)).data, status=status.HTTP_201_CREATED
        )


class DefectDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = DEFECTS
    serializer_class = DefectSerializer
    lookup_url_kwarg = "id"


class DefectCloseView(ApiView):
    serializer_class = DefectSerializer
    write_actions = {"POST": Action.MANAGE_DEFECTS}

    @extend_schema(
        operation_id="defects_close",
        request=DefectCloseSerializer,
        responses={200: DefectSerializer, **error_responses(400)},
    )
    def post(self, request: Request, id: int) -> Response:
        data = validated(DefectCloseSerializer, request)
        services.defect_close(defect_id=id, actor=cast(User, request.user), **data)
        return Response(DefectSerializer(DEFECTS.get(pk=id)).data)


# Post-release review


class ReviewSerializer(serializers.ModelSerializer):
    written_by = user_ref()
    written = serializers.SerializerMethodField(
        help_text="False until the review is written: its parts are then empty and its times null."
    )
    created_at = serializers.DateTimeField(read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = PostReleaseReview
        fields = [
            "release",
            "written",
            "went_well",
            "went_badly",
            "actions",
            "written_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_written(self, review: PostReleaseReview) -> bool:
        return review.pk is not None


class ReviewWriteSerializer(serializers.Serializer):
    went_well = serializers.CharField(max_length=20000)
    went_badly = serializers.CharField(max_length=20000)
    actions = serializers.CharField(max_length=20000)


class ReviewView(ApiView):
    """The post-release review: what went well, what did not, and the actions."""

    serializer_class = ReviewSerializer
    write_actions = {"PUT": Action.WRITE_REVIEW}

    @extend_schema(
        operation_id="releases_review_retrieve",
        description="The post-release review: what went well, what did not, and the actions. "
        "Before it is written the answer is still 200: an empty review with `written` false.",
    )
    def get(self, request: Request, release_id: int) -> Response:
        release = get_object_or_404(Release, pk=release_id)
        review = PostReleaseReview.objects.select_related("written_by").filter(
            release=release
        ).first() or PostReleaseReview(release=release)
        return Response(ReviewSerializer(review).data)

    @extend_schema(
        operation_id="releases_review_write",
        request=ReviewWriteSerializer,
        responses={200: ReviewSerializer, **error_responses(400, 409)},
        description="Write or rewrite the review, once the release is in support.",
    )
    def put(self, request: Request, release_id: int) -> Response:
        data = validated(ReviewWriteSerializer, request)
        review = services.review_write(
            release_id=release_id, actor=cast(User, request.user), **data
        )
        review = PostReleaseReview.objects.select_related("written_by").get(pk=review.pk)
        return Response(ReviewSerializer(review).data)
