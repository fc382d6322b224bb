"""OPTIONS on every kind of endpoint, the review before it is written, and the waves
apply-strategy answers, as a client meets them."""

from typing import Any

import pytest

from .conftest import World

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/releases/{testing}/review/",
        "/api/v1/releases/{testing}/rollout-plan/",
        "/api/v1/releases/{testing}/signoff-policy/",
        "/api/v1/stop-the-line/",
        "/api/v1/waves/{wave}/signoff-requirement/",
        "/api/v1/releases/",
    ],
)
@pytest.mark.parametrize("persona", ["rm", "operator", "viewer"])
def test_options_describes_the_endpoint(client, world: World, path: str, persona: str) -> None:
    url = path.format(testing=world.ids["testing"], wave=world.ids["wave"])

    response = client.options(url, **world.headers[persona])

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["name"]


def test_the_review_before_it_is_written_is_an_empty_review(client, world: World) -> None:
    response = client.get(
        f"/api/v1/releases/{world.ids['testing']}/review/", **world.headers["viewer"]
    )

    assert response.status_code == 200
    body = response.json()
    assert body["release"] == world.ids["testing"]
    assert body["written"] is False
    assert (body["went_well"], body["went_badly"], body["actions"]) == ("", "", "")
    assert (body["written_by"], body["created_at"]) == (None, None)


def test_a_written_review_says_so(client, world: World) -> None:
    body = client.get(
        f"/api/v1/releases/{world.ids['support']}/review/", **world.headers["viewer"]
    ).json()

    assert body["written"] is True and body["went_well"] == "Calm."


def test_the_review_of_an_unknown_release_is_404(client, world: World) -> None:
    response = client.get("/api/v1/releases/999999/review/", **world.headers["viewer"])

    assert response.status_code == 404


def test_apply_strategy_answers_the_waves_as_a_list(client, world: World) -> None:
    response = client.post(
        f"/api/v1/releases/{world.ids['testing']}/rollout-plan/apply-strategy/",
        data={"strategy": "canary", "environments": [world.ids["environment"]]},
        content_type="application/json",
        **world.headers["rm"],
    )

    assert response.status_code == 200
    waves: Any = response.json()
    assert isinstance(waves, list) and [w["percentage"] for w in waves] == [1, 10, 50, 100]
