"""The packaged CloudFormation templates, read as the source of truth for tests and the local stack.

``osls package`` writes ``services/<x>/.serverless/cloudformation-template-update-stack.json``.
``Stacks`` loads them all and resolves the intrinsic functions the services use (``Ref``,
``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ``Fn::ImportValue``, ``Fn::Select``) the way
CloudFormation would for one account and region, so that table names, queue URLs, rule patterns,
environment variables and state machine definitions come from what deploys, not from a list kept
by hand.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
TEMPLATE = ".serverless/cloudformation-template-update-stack.json"

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
_OUTPUT_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_-]+)\.")


class TemplateError(RuntimeError):
    pass


def function_name_of(arn: str) -> str:
    """A function's name from its ARN, unqualified or with an alias (``...:function:<name>:live``)."""
    return arn.split(":function:", 1)[1].split(":", 1)[0] if ":function:" in arn else arn


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads a serverless.yml whose values carry CloudFormation tags (!Sub, !GetAtt...)."""


_CloudFormationLoader.add_multi_constructor("!", lambda loader, suffix, node: None)

# A value that is one whole ``${file(<path>)}`` or ``${file(<path>):<key.path>}`` include.
_FILE_INCLUDE = re.compile(r"\$\{file\(([^)]+)\)(?::([\w.-]+))?\}")


def read_config(path: Path, section: str) -> Any:
    """A top-level section of a ``serverless.yml`` (``functions``, ``params``...), each value in it
    that is a whole ``${file(...)}`` include of a YAML file replaced by what it includes (paths
    relative to the service's folder, as the framework reads them). Other variables stay as they
    are, and CloudFormation tags are ``None``."""
    service_dir = path.parent

    def included(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: included(item) for key, item in value.items()}
        if isinstance(value, list):
            return [included(item) for item in value]
        match = _FILE_INCLUDE.fullmatch(value) if isinstance(value, str) else None
        if match is None or not match[1].endswith((".yml", ".yaml")):
            return value
        content = yaml.load((service_dir / match[1]).read_text(), _CloudFormationLoader)  # noqa: S506 - SafeLoader
        for key in match[2].split(".") if match[2] else []:
            content = content[key]
        return included(content)

    config = yaml.load(path.read_text(), _CloudFormationLoader) or {}  # noqa: S506 - SafeLoader
    return included(config.get(section))


class Services:
    """The services under ``root``: the folders holding ``services/<name>/serverless.yml``, which
    ``serverless-compose.yml`` must list, no more, no fewer.

    The deploy order is compose's: a service after every service whose outputs it takes
    (``${bus.EventBusArn}``) or that it ``dependsOn``, ties in the order of ``serverless-compose.yml``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.names = sorted(path.parent.name for path in root.glob("services/*/serverless.yml"))
        compose = yaml.safe_load((root / "serverless-compose.yml").read_text())["services"]
        unknown = set(compose) ^ set(self.names)
        if unknown:
            raise TemplateError(
                f"serverless-compose.yml and services/*/serverless.yml differ: {sorted(unknown)}"
            )
        self.takes_outputs_of = {
            name: {
                *_OUTPUT_REFERENCE.findall(yaml.safe_dump(entry.get("params", {}))),
                *entry.get("dependsOn", []),
            }
            & set(compose)
            for name, entry in compose.items()
        }
        self.compose_order = list(compose)

    def deploy_order(self) -> list[str]:
        sorter = TopologicalSorter(self.takes_outputs_of)
        sorter.prepare()
        order = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=self.compose_order.index)
            order.extend(ready)
            sorter.done(*ready)
        return order

    def functions(self, name: str) -> dict[str, Any]:
        return read_config(self.root / "services" / name / "serverless.yml", "functions") or {}

    def has_functions(self, name: str) -> bool:
        return bool(self.functions(name))

    def has_http_api(self, name: str) -> bool:
        return any(
            "httpApi" in event
            for function in self.functions(name).values()
            for event in function.get("events", [])
        )


_REPO_SERVICES = Services(ROOT)
SERVICES = tuple(_REPO_SERVICES.deploy_order())
APP_SERVICES = tuple(s for s in SERVICES if _REPO_SERVICES.has_functions(s))  # those with functions
HTTP_SERVICES = tuple(s for s in SERVICES if _REPO_SERVICES.has_http_api(s))


@dataclass
class Template:
    service: str
    body: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.body.get("Resources", {})

    def of_type(self, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource["Type"] == resource_type:
                yield logical_id, resource.get("Properties", {})


def template_path(service: str, packaged: Path | None = None) -> Path:
    if packaged is not None:
        return packaged / service / Path(TEMPLATE).name
    return ROOT / "services" / service / TEMPLATE


def load_template(service: str, packaged: Path | None = None) -> Template:
    path = template_path(service, packaged)
    if not path.exists():
        raise TemplateError(f"{path} is missing: run `make package` first")
    return Template(service, json.loads(path.read_text()))


def package_stage(
    stage: str, into: Path, services: tuple[str, ...] = SERVICES, params: dict[str, str] | None = None
) -> Path:
    """``osls package --stage <stage>`` of each service, its output in ``into/<service>``, with
    ``params`` as ``--param`` options (a stage that deploys needs some: the SES sender).

    osls empties the service's ``.serverless/`` before packaging, whatever ``--package`` says, so
    each service is packaged from a copy of its ``serverless.yml`` in ``into/repo`` (its code, its
    ``resources/``, ``shared/``, the shared blocks of ``serverless/`` and ``node_modules`` linked):
    ``make package``'s output, which the tests read, stays whole.
    """
    repo = into / "repo"
    for name in ("shared", "serverless", "node_modules"):  # what every serverless.yml reaches with ../../
        if not (repo / name).is_symlink():
            repo.mkdir(parents=True, exist_ok=True)
            (repo / name).symlink_to(ROOT / name)
    for service in services:
        copy_dir = repo / "services" / service
        copy_dir.mkdir(parents=True, exist_ok=True)
        (copy_dir / "serverless.yml").write_text((ROOT / "services" / service / "serverless.yml").read_text())
        for folder in ("src", "resources"):  # its code (the bus has none) and the files it includes
            source = ROOT / "services" / service / folder
            if source.exists() and not (copy_dir / folder).is_symlink():
                (copy_dir / folder).symlink_to(source)
        subprocess.run(  # noqa: S603 - the project's own CLI
            [
                str(ROOT / "node_modules/.bin/osls"),
                *("package", "--stage", stage, "--package", into / service),
                *(f"--param={name}={value}" for name, value in (params or {}).items()),
            ],
            cwd=copy_dir,
            check=True,
            capture_output=True,
        )
    return into


@dataclass
class Stacks:
    """Every service's packaged template, with CloudFormation's view of names and ARNs."""

    stage: str = "dev"
    account: str = ACCOUNT
    region: str = REGION
    sqs_endpoint: str = f"https://sqs.{REGION}.amazonaws.com"
    services: tuple[str, ...] = SERVICES
    # Where the templates are (``package_stage``'s directory); None: ``make package``'s output.
    packaged: Path | None = None
    templates: dict[str, Template] = field(init=False)

    def __post_init__(self) -> None:
        self.templates = {service: load_template(service, self.packaged) for service in self.services}

    def with_templates(self, templates: dict[str, Template]) -> Stacks:
        """These stacks with ``templates`` in place of those services' own (packaged again)."""
        stacks = copy.copy(self)
        stacks.__dict__.pop("exports", None)  # cached from the templates replaced
        stacks.templates = {**self.templates, **templates}
        return stacks

    def stack_name(self, service: str) -> str:
        return f"shop-{service}-{self.stage}"

    @cached_property
    def exports(self) -> dict[str, tuple[str, Any]]:
        found = {}
        for service, template in self.templates.items():
            for output in template.body.get("Outputs", {}).values():
                name = output.get("Export", {}).get("Name")
                if name:
                    found[self.resolve(service, name)] = (service, output["Value"])
        return found

    def output(self, service: str, name: str) -> Any:
        return self.resolve(service, self.templates[service].body["Outputs"][name]["Value"])

    # -- names CloudFormation would give ----------------------------------------------------------

    def _properties(self, service: str, logical_id: str) -> tuple[str, dict[str, Any]]:
        try:
            resource = self.templates[service].resources[logical_id]
        except KeyError:
            raise TemplateError(f"{service}: no resource {logical_id}") from None
        return resource["Type"], resource.get("Properties", {})

    def physical_name(self, service: str, logical_id: str) -> str:
        resource_type, props = self._properties(service, logical_id)
        name_property = {
            "AWS::DynamoDB::Table": "TableName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::Events::EventBus": "Name",
            "AWS::Events::Rule": "Name",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::StepFunctions::StateMachine": "StateMachineName",
            "AWS::IAM::Role": "RoleName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Cognito::UserPool": "UserPoolName",
            "AWS::CloudWatch::Alarm": "AlarmName",
            "AWS::CodeDeploy::Application": "ApplicationName",
            "AWS::CodeDeploy::DeploymentGroup": "DeploymentGroupName",
        }.get(resource_type)
        if name_property and name_property in props:
            return str(self.resolve(service, props[name_property]))
        return f"{self.stack_name(service)}-{logical_id}"[:64]

    def arn(self, service: str, logical_id: str) -> str:
        resource_type, _ = self._properties(service, logical_id)
        name = self.physical_name(service, logical_id)
        prefix = f"arn:aws:{{}}:{self.region}:{self.account}:"
        formats = {
            "AWS::DynamoDB::Table": prefix.format("dynamodb") + f"table/{name}",
            "AWS::SQS::Queue": prefix.format("sqs") + name,
            "AWS::Events::EventBus": prefix.format("events") + f"event-bus/{name}",
            "AWS::Events::Rule": prefix.format("events") + f"rule/{name}",
            "AWS::Lambda::Function": prefix.format("lambda") + f"function:{name}",
            "AWS::StepFunctions::StateMachine": prefix.format("states") + f"stateMachine:{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{self.account}:role/{name}",
            "AWS::SNS::Topic": prefix.format("sns") + name,
            "AWS::Logs::LogGroup": prefix.format("logs") + f"log-group:{name}:*",
            "AWS::Cognito::UserPool": prefix.format("cognito-idp") + f"userpool/{name}",
        }
        if resource_type not in formats:
            return prefix.format("unknown") + f"{resource_type}/{name}"
        return formats[resource_type]

    def ref(self, service: str, logical_id: str) -> str:
        resource_type, _ = self._properties(service, logical_id)
        if resource_type == "AWS::SQS::Queue":
            return f"{self.sqs_endpoint}/{self.account}/{self.physical_name(service, logical_id)}"
        if resource_type in ("AWS::StepFunctions::StateMachine", "AWS::SNS::Topic"):
            return self.arn(service, logical_id)
        return self.physical_name(service, logical_id)

    def get_att(self, service: str, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn(service, logical_id)
        if attribute in ("QueueName", "Name"):
            return self.physical_name(service, logical_id)
        if attribute == "QueueUrl":
            return self.ref(service, logical_id)
        if attribute == "StreamArn":
            return self.arn(service, logical_id) + "/stream/local"
        if attribute == "ProviderURL":
            return f"https://cognito-idp.{self.region}.amazonaws.com/{self.ref(service, logical_id)}"
        raise TemplateError(f"{service}: Fn::GetAtt {logical_id}.{attribute} is not supported locally")

    # -- intrinsic functions ----------------------------------------------------------------------

    def _pseudo(self, service: str, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name(service),
            "AWS::NoValue": None,
        }.get(name)

    def _sub_variable(self, service: str, name: str, variables: dict[str, Any]) -> str:
        if name in variables:
            return str(self.resolve(service, variables[name]))
        if name.startswith("AWS::"):
            return str(self._pseudo(service, name))
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self.get_att(service, logical_id, attribute)
        return self.ref(service, name)

    def resolve(self, service: str, value: Any) -> Any:
        """``value`` with every intrinsic function replaced by what CloudFormation would give."""
        if isinstance(value, list):
            return [self.resolve(service, item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
            return {key: self.resolve(service, item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            if argument.startswith("AWS::"):
                return self._pseudo(service, argument)
            return self.ref(service, argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(service, logical_id, attribute)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            return _SUB_VARIABLE.sub(lambda m: self._sub_variable(service, m.group(1), variables), text)
        if function == "Fn::Join":
            separator, items = argument
            return separator.join(str(item) for item in self.resolve(service, items))
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(service, items)[int(index)]
        if function == "Fn::ImportValue":
            name = self.resolve(service, argument)
            if name not in self.exports:
                raise TemplateError(f"{service}: Fn::ImportValue {name!r} is exported by no stack")
            exporter, exported = self.exports[name]
            return self.resolve(exporter, exported)
        raise TemplateError(f"{service}: {function} is not supported locally")


def with_changed_resources(service: str, change: Callable[[dict[str, Any]], None]) -> Stacks:
    """``service``'s packaged template alone, its resources changed by ``change``: proof that a
    check of the templates fails when what deploys drifts from what it requires."""
    stacks = Stacks(services=(service,))
    body = copy.deepcopy(stacks.templates[service].body)
    change(body["Resources"])
    stacks.templates = {service: Template(service, body)}
    return stacks
