"""Data at rest and in transit, on the packaged templates of every service: queues and tables
encrypted, queues refusing plain HTTP, log groups with a retention, and every function's log group
declared (otherwise Lambda creates it on first use, kept forever).

checkov asks for KMS keys where we use service-managed encryption (see checkov.allowlist.yml), so
these rules say what we require instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from devtools.template import SERVICES, Stacks, Template, with_changed_resources


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _denies_plain_http(statement: dict) -> bool:
    condition = statement.get("Condition", {}).get("Bool", {})
    return (
        statement.get("Effect") == "Deny"
        and statement.get("Principal") in ("*", {"AWS": "*"})
        and set(_as_list(statement.get("Action"))) & {"sqs:*", "*"}
        and str(condition.get("aws:SecureTransport")).lower() == "false"
    )


def unencrypted_queues(stacks: Stacks, template: Template) -> Iterator[str]:
    for logical_id, props in template.of_type("AWS::SQS::Queue"):
        if not (props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId")):
            yield f"queue {logical_id} is not encrypted at rest (SqsManagedSseEnabled: true)"


def queues_open_to_plain_http(stacks: Stacks, template: Template) -> Iterator[str]:
    protected = set()
    for _, props in template.of_type("AWS::SQS::QueuePolicy"):
        statements = _as_list(props["PolicyDocument"]["Statement"])
        if any(_denies_plain_http(statement) for statement in statements):
            protected |= {queue.get("Ref") for queue in props["Queues"] if isinstance(queue, dict)}
    for logical_id, _ in template.of_type("AWS::SQS::Queue"):
        if logical_id not in protected:
            yield f"queue {logical_id} has no policy denying aws:SecureTransport=false"


def unencrypted_tables(stacks: Stacks, template: Template) -> Iterator[str]:
    for logical_id, props in template.of_type("AWS::DynamoDB::Table"):
        if props.get("SSESpecification", {}).get("SSEEnabled") is not True:
            yield f"table {logical_id} has no SSESpecification.SSEEnabled: true"


def log_groups_kept_forever(stacks: Stacks, template: Template) -> Iterator[str]:
    declared = {}
    for logical_id, props in template.of_type("AWS::Logs::LogGroup"):
        declared[stacks.resolve(template.service, props["LogGroupName"])] = logical_id
        if not props.get("RetentionInDays"):
            yield f"log group {logical_id} has no RetentionInDays"
    for logical_id, props in template.of_type("AWS::Lambda::Function"):
        name = stacks.resolve(template.service, props["FunctionName"])
        if f"/aws/lambda/{name}" not in declared:
            yield f"function {logical_id} has no declared log group (Lambda would make one, kept forever)"


RULES: list[Callable[[Stacks, Template], Iterator[str]]] = [
    unencrypted_queues,
    queues_open_to_plain_http,
    unencrypted_tables,
    log_groups_kept_forever,
]


def violations(stacks: Stacks, service: str) -> list[str]:
    template = stacks.templates[service]
    return [problem for rule in RULES for problem in rule(stacks, template)]


@pytest.mark.parametrize("service", SERVICES)
def test_data_is_encrypted_queues_refuse_plain_http_and_logs_expire(stacks, service):
    problems = violations(stacks, service)
    assert not problems, "\n".join(problems)


def test_the_rules_have_something_to_check(stacks):
    kinds = {
        resource["Type"] for template in stacks.templates.values() for resource in template.resources.values()
    }
    assert {"AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::Logs::LogGroup"} <= kinds


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda r: r["StreamFailuresQueue"]["Properties"].pop("SqsManagedSseEnabled"),
            "queue StreamFailuresQueue is not encrypted at rest (SqsManagedSseEnabled: true)",
        ),
        (
            lambda r: r.pop("StreamFailuresQueuePolicy"),
            "queue StreamFailuresQueue has no policy denying aws:SecureTransport=false",
        ),
        (
            lambda r: r["StreamFailuresQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0].update(
                Effect="Allow"
            ),
            "queue StreamFailuresQueue has no policy denying aws:SecureTransport=false",
        ),
        (
            lambda r: r["UsersTable"]["Properties"].pop("SSESpecification"),
            "table UsersTable has no SSESpecification.SSEEnabled: true",
        ),
        (
            lambda r: r["ApiLogGroup"]["Properties"].pop("RetentionInDays"),
            "log group ApiLogGroup has no RetentionInDays",
        ),
        (
            lambda r: r.pop("ApiLogGroup"),
            "function ApiLambdaFunction has no declared log group (Lambda would make one, kept forever)",
        ),
    ],
    ids=[
        "queue-unencrypted",
        "no-queue-policy",
        "policy-allows",
        "table-unencrypted",
        "no-retention",
        "no-log-group",
    ],
)
def test_each_rule_catches_its_regression(mutate, expected):
    assert not violations(with_changed_resources("users", lambda resources: None), "users")
    assert violations(with_changed_resources("users", mutate), "users") == [expected]
