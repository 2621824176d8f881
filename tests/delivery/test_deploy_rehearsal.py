"""The deploy rehearsal: the real `npx osls-compose deploy` and `npx osls remove` against moto's
CloudFormation engine on this machine (`make rehearse`, run by CI after `make test`).

The services are deployed from a copy of the repository, so the packaged `dev` templates the other
tests read stay as they are. moto's engine creates what it supports (tables, functions, queues,
the state machine, the bus and its rules, the user pool) and marks the rest complete without
creating it (docs/deploying.md lists those types).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from devtools.template import ROOT, SERVICES, load_template

pytestmark = pytest.mark.rehearsal

STAGE = "rehearsal"
COMPLETE = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
DEPLOY_TIMEOUT = 600  # seconds; four stacks take about 1.5 minutes here
COPIED = (
    "services",
    "shared",
    "serverless",
    "tools",
    "requirements",
    "serverless-compose.yml",
    "package.json",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    port = _free_port()
    emulator = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / ".ci" / "aws_emulator.py"), str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # moto announces its thread first; `ready` follows once it serves.
        lines = iter(emulator.stdout.readline, "")
        assert any(line.strip() == "ready" for line in lines), "the emulator did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("repo")
    ignore = shutil.ignore_patterns(".serverless", "__pycache__", "tests", "events")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=ignore)
        else:
            shutil.copy(source, copy / name)
    (copy / "node_modules").symlink_to(ROOT / "node_modules")
    return copy


def run(command: list[str], cwd: Path, endpoint: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }
    environment.pop("AWS_SESSION_TOKEN", None)
    environment.pop("AWS_PROFILE", None)
    return subprocess.run(  # noqa: S603 - npx with our arguments
        ["npx", "--no-install", *command],  # noqa: S607
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=DEPLOY_TIMEOUT,
        check=False,
    )


def client(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture(scope="module")
def deployed(repo, endpoint):
    deploy = run(["osls-compose", "deploy", "--stage", STAGE], repo, endpoint)
    assert deploy.returncode == 0, deploy.stdout[-4000:] + deploy.stderr[-4000:]
    return repo


def stack_statuses(endpoint: str) -> dict[str, str]:
    stacks = client("cloudformation", endpoint).describe_stacks()["Stacks"]
    return {stack["StackName"]: stack["StackStatus"] for stack in stacks}


def test_compose_deploys_every_stack_to_a_complete_state(deployed, endpoint):
    statuses = stack_statuses(endpoint)
    for service in SERVICES:
        assert statuses.get(f"shop-{service}-{STAGE}") in COMPLETE, statuses
    cloudformation = client("cloudformation", endpoint)
    for service in SERVICES:
        resources = cloudformation.list_stack_resources(StackName=f"shop-{service}-{STAGE}")
        incomplete = [r for r in resources["StackResourceSummaries"] if r["ResourceStatus"] not in COMPLETE]
        assert not incomplete, incomplete


def test_the_resources_moto_supports_exist(deployed, endpoint):
    """Every table, function, queue, state machine and rule of the packaged templates was created."""
    names = {kind: set() for kind in ("table", "function", "queue", "machine", "rule")}
    name_property = {
        "AWS::DynamoDB::Table": ("table", "TableName"),
        "AWS::Lambda::Function": ("function", "FunctionName"),
        "AWS::SQS::Queue": ("queue", "QueueName"),
        "AWS::StepFunctions::StateMachine": ("machine", "StateMachineName"),
        "AWS::Events::Rule": ("rule", "Name"),
    }
    for service in SERVICES:
        for resource in load_template(service).resources.values():
            if resource["Type"] in name_property:
                kind, key = name_property[resource["Type"]]
                names[kind].add(resource["Properties"][key].replace("-dev", f"-{STAGE}"))
    assert all(names.values()), names
    tables = set(client("dynamodb", endpoint).list_tables()["TableNames"])
    functions = {f["FunctionName"] for f in client("lambda", endpoint).list_functions()["Functions"]}
    queues = {url.rsplit("/", 1)[1] for url in client("sqs", endpoint).list_queues()["QueueUrls"]}
    machines = {m["name"] for m in client("stepfunctions", endpoint).list_state_machines()["stateMachines"]}
    rules = {r["Name"] for r in client("events", endpoint).list_rules(EventBusName=f"shop-{STAGE}")["Rules"]}
    assert names["table"] <= tables
    assert names["function"] <= functions
    assert names["queue"] <= queues
    assert names["machine"] <= machines
    assert names["rule"] <= rules


def test_compose_passes_the_bus_and_users_outputs_on(deployed, endpoint):
    cloudformation = client("cloudformation", endpoint)

    def outputs(stack: str) -> dict[str, str]:
        (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
        return {output["OutputKey"]: output["OutputValue"] for output in found["Outputs"]}

    bus = outputs(f"shop-bus-{STAGE}")
    users = outputs(f"shop-users-{STAGE}")
    assert bus["EventBusName"] == f"shop-{STAGE}"
    assert users["JwtIssuerUrl"].startswith("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_")
    passed = {
        "eventBusArn": bus["EventBusArn"],
        "jwtIssuerUrl": users["JwtIssuerUrl"],
        "jwtAudience": users["JwtAudience"],
    }
    for consumer in ("orders", "notifications"):
        # The deployed template holds the values compose passed to the params the service uses,
        # where the defaults would have put a Fn::Sub of the bus ARN and a Fn::ImportValue of the
        # users stack's exports.
        config = (ROOT / "services" / consumer / "serverless.yml").read_text()
        # ...and the shared blocks it includes (serverless/), where the provider reads the params.
        for block in set(re.findall(r"\$\{file\(\.\./\.\./serverless/([\w.-]+)\)", config)):
            config += (ROOT / "serverless" / block).read_text()
        used = [param for param in passed if "${param:" + param + "}" in config]
        assert {"jwtIssuerUrl", "jwtAudience"} <= set(used), consumer
        body = cloudformation.get_template(StackName=f"shop-{consumer}-{STAGE}")["TemplateBody"]
        text = body if isinstance(body, str) else json.dumps(body)
        for param in used:
            assert passed[param] in text, (consumer, param)
        assert "Fn::ImportValue" not in text, consumer


def test_a_broken_template_fails_the_deploy(repo, endpoint):
    """The mutation: the bus's archive names a bus that does not exist."""
    broken = repo / "broken-bus"
    shutil.copytree(repo / "services" / "bus", broken)
    config = broken / "serverless.yml"
    config.write_text(
        config.read_text().replace("SourceArn: !GetAtt EventBus.Arn", "SourceArn: !GetAtt NoSuchBus.Arn")
    )
    assert "NoSuchBus" in config.read_text()
    deploy = run(["osls", "deploy", "--stage", "broken"], broken, endpoint)
    assert deploy.returncode != 0
    assert "NoSuchBus" in deploy.stdout + deploy.stderr
    # The framework's first stack (its deployment bucket alone) exists; the bus was never created.
    buses = {bus["Name"] for bus in client("events", endpoint).list_event_buses()["EventBuses"]}
    assert "shop-broken" not in buses


def test_osls_remove_removes_every_stack(deployed, endpoint):
    for service in reversed(SERVICES):  # consumers first, the bus last
        remove = run(["osls", "remove", "--stage", STAGE], deployed / "services" / service, endpoint)
        assert remove.returncode == 0, remove.stdout[-4000:] + remove.stderr[-4000:]
    left = {name: status for name, status in stack_statuses(endpoint).items() if name.endswith(f"-{STAGE}")}
    assert all(status == "DELETE_COMPLETE" for status in left.values()), left
    functions = client("lambda", endpoint).list_functions()["Functions"]
    assert not [f for f in functions if f"-{STAGE}-" in f["FunctionName"]]
