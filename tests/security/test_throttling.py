"""Every HTTP API caps its request rate at its stage (the ``throttleRateLimit`` and
``throttleBurstLimit`` params): past it API Gateway answers 429 itself, so a runaway or hostile
client bounds neither the bill nor the load on the table by the account's shared 10,000/s."""

from __future__ import annotations

import pytest

from devtools.template import SERVICES, Stacks, with_changed_resources


def throttling_problems(stacks: Stacks) -> list[str]:
    problems = []
    for service, template in stacks.templates.items():
        apis = {logical_id for logical_id, _ in template.of_type("AWS::ApiGatewayV2::Api")}
        staged = set()
        for logical_id, raw in template.of_type("AWS::ApiGatewayV2::Stage"):
            stage = stacks.resolve(service, raw)
            staged.add(raw["ApiId"]["Ref"])
            settings = stage.get("DefaultRouteSettings", {})
            rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
            if not rate or not burst:
                problems.append(f"{service}/{logical_id}: no default route throttling")
            elif burst < rate:
                problems.append(f"{service}/{logical_id}: a burst ({burst}) below the rate ({rate})")
        problems += [f"{service}/{api}: no stage of ours to throttle it" for api in sorted(apis - staged)]
    return problems


def test_every_http_api_throttles_its_routes(stacks):
    assert [s for s in SERVICES if list(stacks.templates[s].of_type("AWS::ApiGatewayV2::Stage"))]
    assert throttling_problems(stacks) == []


def _drop_throttling(resources: dict) -> None:
    resources["HttpApiStage"]["Properties"]["DefaultRouteSettings"] = {"DetailedMetricsEnabled": False}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_drop_throttling, "users/HttpApiStage: no default route throttling"),
        (
            lambda resources: resources["HttpApiStage"]["Properties"]["DefaultRouteSettings"].update(
                ThrottlingBurstLimit=10
            ),
            "users/HttpApiStage: a burst (10) below the rate (50)",
        ),
    ],
    ids=["no throttling", "burst below rate"],
)
def test_the_check_fails_without_throttling(change, expected):
    assert throttling_problems(with_changed_resources("users", lambda resources: None)) == []
    assert throttling_problems(with_changed_resources("users", change)) == [expected]
