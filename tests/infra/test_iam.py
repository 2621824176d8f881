"""Least privilege, checked on the packaged CloudFormation of every service (DESIGN.md §2).

- ``*`` as a resource only for the actions AWS offers no resource scope for (X-Ray, metrics, the
  CloudWatch Logs delivery a state machine logs through);
- no wildcard actions;
- DynamoDB actions only on the service's own tables, their indexes and streams;
- SQS and Step Functions actions only on the service's own queues and state machines;
- ``events:PutEvents`` only on the shared bus, conditioned on the service's own ``events:source``;
- CloudWatch Logs writes only to the service's own function log groups.
"""

from __future__ import annotations

import pytest

from devtools.template import SERVICES, Stacks

# What a state machine's role needs to log to its log group (Step Functions' own documentation).
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
STAR_ONLY_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "cloudwatch:PutMetricData",
    *LOG_DELIVERY_ACTIONS,
}
SCOPED_TYPES = {
    "dynamodb": "AWS::DynamoDB::Table",
    "sqs": "AWS::SQS::Queue",
    "states": "AWS::StepFunctions::StateMachine",
}


def _as_list(value):
    return value if isinstance(value, list) else [value]


def own_arns(stacks: Stacks, service: str, resource_type: str) -> set[str]:
    return {
        stacks.arn(service, logical_id)
        for logical_id, resource in stacks.templates[service].resources.items()
        if resource["Type"] == resource_type
    }


def statements(stacks: Stacks, service: str):
    """Every Allow statement of every role and policy of the service, resolved."""
    for logical_id, resource in stacks.templates[service].resources.items():
        props = stacks.resolve(service, resource.get("Properties", {}))
        if resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [props["PolicyDocument"]]
        else:
            continue
        for document in documents:
            for statement in _as_list(document["Statement"]):
                if statement.get("Effect") == "Allow":
                    yield logical_id, statement


def violations(stacks: Stacks, service: str, extra_statements=()) -> list[str]:
    bus_arn = f"arn:aws:events:{stacks.region}:{stacks.account}:event-bus/shop-{stacks.stage}"
    own = {prefix: own_arns(stacks, service, kind) for prefix, kind in SCOPED_TYPES.items()}
    log_prefix = (
        f"arn:aws:logs:{stacks.region}:{stacks.account}:log-group:/aws/lambda/shop-{service}-{stacks.stage}-"
    )
    found = []
    for role, statement in [*statements(stacks, service), *extra_statements]:
        actions = _as_list(statement.get("Action", []))
        resources = [str(r) for r in _as_list(statement.get("Resource", []))]
        where = f"{service}/{role}: {actions} on {resources}"
        if any("*" in action for action in actions):
            found.append(f"{where}: wildcard action")
        if "*" in resources and not set(actions) <= STAR_ONLY_ACTIONS:
            found.append(f"{where}: '*' resource")
        for action in actions:
            prefix = action.split(":", 1)[0]
            if prefix in own:
                allowed = own[prefix]
                for resource in resources:
                    base = resource.split("/index/")[0].split("/stream/")[0]
                    if base not in allowed:
                        found.append(f"{where}: {resource} is not this service's")
            elif action == "events:PutEvents":
                if resources != [bus_arn]:
                    found.append(f"{where}: PutEvents must target only the bus")
                source = statement.get("Condition", {}).get("StringEquals", {}).get("events:source")
                if source != f"shop.{service}":
                    found.append(f"{where}: PutEvents needs events:source = shop.{service}, has {source!r}")
            elif (
                prefix == "logs"
                and action not in LOG_DELIVERY_ACTIONS
                and not all(r.startswith(log_prefix) for r in resources)
            ):
                found.append(f"{where}: logs beyond the service's own function log groups")
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_role_is_least_privilege(stacks, service):
    assert violations(stacks, service) == []


@pytest.mark.parametrize("service", [s for s in SERVICES if s != "bus"])
def test_every_function_has_its_own_role(stacks, service):
    template = stacks.templates[service]
    roles = [stacks.resolve(service, props["Role"]) for _, props in template.of_type("AWS::Lambda::Function")]
    assert len(roles) == len(set(roles)), f"{service}: functions share a role"


@pytest.mark.parametrize(
    ("statement", "complaint"),
    [
        ({"Action": "dynamodb:*", "Resource": "*"}, "wildcard action"),
        ({"Action": "dynamodb:GetItem", "Resource": "*"}, "'*' resource"),
        (
            {
                "Action": "dynamodb:GetItem",
                "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/shop-orders-dev",
            },
            "is not this service's",
        ),
        (
            {
                "Action": "sqs:SendMessage",
                "Resource": "arn:aws:sqs:us-east-1:123456789012:shop-orders-dev-intake",
            },
            "is not this service's",
        ),
        (
            {
                "Action": "events:PutEvents",
                "Resource": "arn:aws:events:us-east-1:123456789012:event-bus/shop-dev",
            },
            "needs events:source",
        ),
        (
            {
                "Action": "events:PutEvents",
                "Resource": "arn:aws:events:us-east-1:123456789012:event-bus/shop-dev",
                "Condition": {"StringEquals": {"events:source": "shop.orders"}},
            },
            "needs events:source = shop.users",
        ),
        ({"Action": "logs:PutLogEvents", "Resource": "*"}, "logs beyond"),
    ],
)
def test_the_lint_catches_wide_statements(stacks, statement, complaint):
    found = violations(stacks, "users", extra_statements=[("Injected", {"Effect": "Allow", **statement})])
    assert any(complaint in problem for problem in found), found
