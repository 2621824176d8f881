"""Pytest fixtures for every suite: moto-backed AWS provisioned from the packaged templates,
handlers loaded with the environment their template gives them, requests to the HTTP APIs, the
mailbox, and a recorder of the shared bus."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devtools.emulator import moto_patches
from devtools.emulator.lambda_runtime import FunctionSpec, functions
from devtools.emulator.plumbing import MOTO_CONFIG, Plumbing
from devtools.emulator.provision import provision
from devtools.template import APP_SERVICES, ROOT, Stacks, package_stage
from devtools.testkit.http import HttpResult, api_routes, http_request
from devtools.testkit.mailbox import SentEmail, sent_emails, verify_senders

# The SES sender the tests' `prod` packaging names (a stage that deploys must name one).
PROD_SENDER = "notifications@mail.example.com"

moto_patches.apply()  # every suite runs moto as the local stack does


@pytest.fixture(scope="session")
def stacks() -> Stacks:
    """The packaged templates of every service (``make package`` writes them)."""
    return Stacks()


@pytest.fixture(scope="session")
def prod_stacks(tmp_path_factory: pytest.TempPathFactory) -> Stacks:
    """The services with functions, packaged for ``prod`` (SnapStart on) into a temporary directory."""
    packaged = package_stage(
        "prod", tmp_path_factory.mktemp("prod"), APP_SERVICES, {"senderEmail": PROD_SENDER}
    )
    return Stacks(stage="prod", services=APP_SERVICES, packaged=packaged)


@pytest.fixture
def aws(stacks: Stacks) -> Iterator[Stacks]:
    """A fresh moto account holding every table, queue, bus, rule and state machine that deploys."""
    with mock_aws(config=MOTO_CONFIG):
        provision(stacks, boto3.Session())
        yield stacks


@pytest.fixture
def plumbing(aws: Stacks) -> Iterator[Plumbing]:
    """Streams, queues and state machine tasks wired to the real handlers; call ``.drain()``."""
    wiring = Plumbing(aws, boto3.Session())
    with wiring.routing_state_machine_tasks():
        yield wiring


@pytest.fixture(scope="session")
def function_specs(stacks: Stacks) -> dict[str, FunctionSpec]:
    return functions(stacks)


@pytest.fixture
def lambda_function(
    function_specs: dict[str, FunctionSpec], monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, str], Callable[[dict], Any]]:
    """``lambda_function("users", "api")`` → a callable that invokes that function's handler with
    an event and a Lambda context, under the environment of its packaged template."""

    def load(service: str, name: str) -> Callable[[dict], Any]:
        spec = function_specs[f"shop-{service}-dev-{name}"]
        for key, value in spec.environment.items():
            monkeypatch.setenv(key, value)
        handler = spec.load()
        return lambda event: handler(event, spec.context())

    return load


@pytest.fixture
def call_http(aws: Stacks, lambda_function: Callable) -> Callable[..., HttpResult]:
    """``call_http("orders", "GET", "/orders/01J...", user="u1")``: one request through the
    service's API function as API Gateway sends it (``devtools.testkit.http.http_request`` takes
    ``body``, ``user``, ``admin``, ``headers``, ``query``), in this test's one execution environment."""

    def call(service: str, method: str, path: str, **request: Any) -> HttpResult:
        return http_request(
            lambda_function(service, "api"), api_routes(aws, service), method, path, **request
        )

    return call


@pytest.fixture
def sample_event() -> Callable[[str, str], dict]:
    """``sample_event("orders", "get_order")``: ``services/orders/events/get_order.json``, one of the
    events ``serverless invoke local`` is given."""
    return lambda service, name: json.loads(
        (ROOT / "services" / service / "events" / f"{name}.json").read_text()
    )


@pytest.fixture
def run_sample(
    aws: Stacks, lambda_function: Callable, sample_event: Callable[[str, str], dict]
) -> Callable[[str, str, str], Any]:
    """``run_sample("orders", "api", "get_order")``: that sample event through the function's
    handler on moto; returns what the handler returned."""
    return lambda service, function, name: lambda_function(service, function)(sample_event(service, name))


@pytest.fixture
def verified_senders(aws: Stacks, function_specs: dict[str, FunctionSpec]) -> None:
    """Every function's sender verified in SES, as deploying requires."""
    verify_senders(function_specs)


@pytest.fixture
def mailbox(aws: Stacks, verified_senders: None) -> Callable[[], list[SentEmail]]:
    """Every e-mail SES accepted so far (moto's SES backend keeps them)."""
    return lambda: sent_emails(aws)


@dataclass
class BusRecorder:
    """Every event published on the shared bus, through a catch-all rule into an SQS queue."""

    sqs: Any
    queue_url: str
    received: list[dict] = field(default_factory=list)

    def new(self, source: str | None = None) -> list[dict]:
        """The events that arrived since the last call (of ``source`` only, when given)."""
        start = len(self.received)
        while messages := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            for message in messages:
                self.received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [e for e in self.received[start:] if source is None or e["source"] == source]

    def events(self, source: str | None = None) -> list[dict]:
        """Every event so far, oldest first (of ``source`` only, when given)."""
        self.new()
        return [e for e in self.received if source is None or e["source"] == source]

    def event_ids(self) -> Counter[str]:
        """How many times each event (``metadata.event_id``) arrived."""
        return Counter(event["detail"]["metadata"]["event_id"] for event in self.events())


@pytest.fixture
def bus_recorder(aws: Stacks) -> BusRecorder:
    """Records what reaches the shared bus from now on (``.new()``, ``.events()``, ``.event_ids()``)."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    bus = aws.physical_name("bus", "EventBus")
    queue_url = sqs.create_queue(QueueName="test-bus-recorder")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="test-bus-recorder", EventBusName=bus, EventPattern=json.dumps({"account": [aws.account]})
    )
    events.put_targets(
        Rule="test-bus-recorder", EventBusName=bus, Targets=[{"Id": "recorder", "Arn": queue_arn}]
    )
    return BusRecorder(sqs, queue_url)


def item_reader(stacks: Stacks, service: str, table: str) -> Callable[[str, str], dict[str, Any] | None]:
    """``reader("USER#u1", "PROFILE")`` → the item at that key of ``service``'s ``table`` (its
    logical id), in the low-level shape, or None; read consistently, as a test reads its own writes."""
    dynamodb = boto3.client("dynamodb")
    name = stacks.physical_name(service, table)

    def get(pk: str, sk: str) -> dict[str, Any] | None:
        key = {"PK": {"S": pk}, "SK": {"S": sk}}
        return dynamodb.get_item(TableName=name, Key=key, ConsistentRead=True).get("Item")

    return get


def read_outbox(stacks: Stacks, service: str) -> list[dict[str, Any]]:
    """The events ``service`` wrote to its outbox, oldest first:
    ``[{"event_id", "detail_type", "detail", "data"}]`` (a test reading a tiny moto table)."""
    [table] = [
        stacks.resolve(service, props["TableName"])
        for _, props in stacks.templates[service].of_type("AWS::DynamoDB::Table")
        if "StreamSpecification" in props
    ]
    items = boto3.client("dynamodb").scan(
        TableName=table,
        FilterExpression="begins_with(PK, :outbox)",
        ExpressionAttributeValues={":outbox": {"S": "OUTBOX#"}},
        ConsistentRead=True,
    )["Items"]
    events = [
        {
            "event_id": item["PK"]["S"].removeprefix("OUTBOX#"),
            "detail_type": item["detail_type"]["S"],
            "detail": json.loads(item["detail"]["S"]),
        }
        for item in items
    ]
    events.sort(key=lambda event: (event["detail"]["metadata"]["occurred_at"], event["event_id"]))
    return [event | {"data": event["detail"]["data"]} for event in events]
