"""No way into a function without a valid JWT, by construction: every route of every packaged
template sits behind a JWT authorizer reading the Authorization header, and no other door is open
(an HTTP API quick-create default route, a function URL without IAM auth, a public invoke
permission). A route added to any serverless.yml without ``authorizer: { name: jwt }`` fails here.
"""

from __future__ import annotations

import pytest

from devtools.emulator.apigw import routes
from devtools.template import Stacks, Template, with_changed_resources

IDENTITY_SOURCE = ["$request.header.Authorization"]


def auth_violations(stacks: Stacks) -> list[str]:
    problems = []
    for route in routes(stacks):
        where = f"{route.service}: {route.route_key}"
        if route.authorizer is None:
            problems.append(f"{where} has no JWT authorizer")
            continue
        template = stacks.templates[route.service]
        authorizer = template.resources.get(route.authorizer, {})
        props = authorizer.get("Properties", {})
        jwt = props.get("JwtConfiguration", {})
        if authorizer.get("Type") != "AWS::ApiGatewayV2::Authorizer" or props.get("AuthorizerType") != "JWT":
            problems.append(f"{where}: {route.authorizer} is not a JWT authorizer")
        elif props.get("IdentitySource") != IDENTITY_SOURCE:
            problems.append(f"{where}: {route.authorizer} reads {props.get('IdentitySource')}")
        elif not jwt.get("Issuer") or not jwt.get("Audience"):
            problems.append(f"{where}: {route.authorizer} checks no issuer or no audience")
    for service, template in stacks.templates.items():
        problems += [f"{service}: {message}" for message in _other_doors(template)]
    return problems


def _other_doors(template: Template) -> list[str]:
    found = []
    for logical_id, props in template.of_type("AWS::ApiGatewayV2::Api"):
        if props.get("ProtocolType") != "HTTP":
            found.append(f"{logical_id}: a {props.get('ProtocolType')} API, which this check does not cover")
        if "Target" in props:
            found.append(f"{logical_id} is a quick-create API: its $default route has no authorizer")
    for logical_id, _ in template.of_type("AWS::ApiGateway::RestApi"):
        found.append(f"{logical_id}: a REST API, which this check does not cover")
    for logical_id, props in template.of_type("AWS::Lambda::Url"):
        if props.get("AuthType") != "AWS_IAM":
            found.append(f"function URL {logical_id} does not require IAM auth")
    for logical_id, props in template.of_type("AWS::Lambda::Permission"):
        if props.get("Principal") == "*":
            found.append(f"permission {logical_id} lets anyone invoke")
    return found


def test_every_route_requires_the_jwt_authorizer(stacks):
    assert not auth_violations(stacks)


def test_the_check_sees_the_routes_of_every_service_with_an_api(stacks):
    with_api = {s for s, t in stacks.templates.items() if any(t.of_type("AWS::ApiGatewayV2::Api"))}
    found = routes(stacks)
    assert with_api >= {"users"}
    assert {route.service for route in found} == with_api
    assert {"POST /users", "GET /users/{id}", "PATCH /users/{id}", "DELETE /users/{id}"} <= {
        route.route_key for route in found
    }


# -- the check fails when a route ships open ------------------------------------------------------


def _open_patch_route(resources: dict) -> None:
    route = resources["HttpApiRoutePatchUsersIdVar"]["Properties"]
    del route["AuthorizationType"], route["AuthorizerId"]


def _new_open_route(resources: dict) -> None:
    resources["HttpApiRouteGetUsersExport"] = {
        "Type": "AWS::ApiGatewayV2::Route",
        "Properties": {
            "ApiId": {"Ref": "HttpApi"},
            "RouteKey": "GET /users/export",
            "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "HttpApiIntegrationApi"}]]},
        },
    }


def _authorizer_reading_a_query_string(resources: dict) -> None:
    resources["HttpApiAuthorizerJwt"]["Properties"]["IdentitySource"] = ["$request.querystring.token"]


def _authorizer_without_audience(resources: dict) -> None:
    resources["HttpApiAuthorizerJwt"]["Properties"]["JwtConfiguration"]["Audience"] = []


def _public_function_url(resources: dict) -> None:
    resources["ApiUrl"] = {
        "Type": "AWS::Lambda::Url",
        "Properties": {"TargetFunctionArn": {"Ref": "ApiLambdaFunction"}, "AuthType": "NONE"},
    }


def _quick_create_api(resources: dict) -> None:
    resources["HttpApi"]["Properties"]["Target"] = {"Fn::GetAtt": ["ApiLambdaFunction", "Arn"]}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_open_patch_route, "users: PATCH /users/{id} has no JWT authorizer"),
        (_new_open_route, "users: GET /users/export has no JWT authorizer"),
        (
            _authorizer_reading_a_query_string,
            "users: POST /users: HttpApiAuthorizerJwt reads ['$request.querystring.token']",
        ),
        (
            _authorizer_without_audience,
            "users: POST /users: HttpApiAuthorizerJwt checks no issuer or no audience",
        ),
        (_public_function_url, "users: function URL ApiUrl does not require IAM auth"),
        (_quick_create_api, "users: HttpApi is a quick-create API: its $default route has no authorizer"),
    ],
    ids=["route-opened", "route-added-open", "token-in-query", "no-audience", "function-url", "quick-create"],
)
def test_an_open_door_fails_the_check(mutate, expected):
    assert not auth_violations(with_changed_resources("users", lambda resources: None))
    assert expected in auth_violations(with_changed_resources("users", mutate))
