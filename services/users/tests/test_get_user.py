import json

import boto3

from devtools.apigw import http_event, jwt_claims


def test_get_own_profile_then_forbidden_and_missing(aws, lambda_function):
    api = lambda_function("users", "api")
    boto3.client("dynamodb").put_item(
        TableName="shop-users-dev",
        Item={"PK": {"S": "USER#u1"}, "SK": {"S": "PROFILE"}, "email": {"S": "a@b.co"}, "name": {"S": "A"}},
    )

    ok = api(http_event("GET", "/users/u1", route_key="GET /users/{id}", claims=jwt_claims("u1")))
    assert ok["statusCode"] == 200
    assert json.loads(ok["body"]) == {"id": "u1", "email": "a@b.co", "name": "A"}
    assert ok["headers"]["x-correlation-id"]

    other = api(http_event("GET", "/users/u1", route_key="GET /users/{id}", claims=jwt_claims("u2")))
    assert other["statusCode"] == 403

    admin = jwt_claims("u2", groups=("admin",))
    missing = api(http_event("GET", "/users/nobody", route_key="GET /users/{id}", claims=admin))
    assert missing["statusCode"] == 404
    assert json.loads(missing["body"])["message"] == "User not found"
