"""An AWS endpoint on this machine for the deploy rehearsal: moto's server, CloudFormation included.

`python .ci/aws_emulator.py <port>` serves every moto backend on 127.0.0.1:<port> until it is
stopped (SIGTERM or SIGINT), after printing `ready` on standard output. `osls` and `osls-compose`
reach it through AWS_ENDPOINT_URL (the AWS SDK v3 honours it).

Two of moto 5.2's gaps are closed here, each where AWS's own behaviour is known, so that the
rehearsal fails only on what would fail in AWS:

- its ValidateTemplate runs cfn-lint and refuses a template on any finding, warnings and
  informational ones included; CloudFormation refuses only errors, so warnings (the framework's
  own W3005) pass here too;
- an AWS::Events::EventBus answers `Ref` with the bus object itself instead of its name;
- its CloudFormation engine skips AWS::Cognito::UserPool and ::UserPoolClient, so the users stack's
  outputs (the JWT issuer and audience compose passes on) would not exist: both are created
  here through moto's own Cognito backend, answering `Ref` and `GetAtt` as CloudFormation does.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from moto.cloudformation import models as cloudformation_models
from moto.cognitoidp.models import cognitoidp_backends
from moto.core.common_models import CloudFormationModel
from moto.events.models import EventBus
from moto.server import ThreadedMotoServer

_lint = cloudformation_models.validate_template_cfn_lint


def _errors_only(template: str) -> list:
    return [match for match in _lint(template) if match.rule.id.startswith("E")]


class UserPool(CloudFormationModel):
    """AWS::Cognito::UserPool (CloudFormationModel subclasses register themselves with moto)."""

    __module__ = "moto.cognitoidp.cloudformation"  # moto files its models by service: the 2nd part

    def __init__(self, pool: Any, account_id: str, region_name: str) -> None:
        self.pool, self.account_id, self.region_name = pool, account_id, region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Cognito::UserPool"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "UserPoolName"

    @property
    def physical_resource_id(self) -> str:
        return self.pool.id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "ProviderName", "ProviderURL", "UserPoolId")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        provider = f"cognito-idp.{self.region_name}.amazonaws.com/{self.pool.id}"
        return {
            "Arn": self.pool.arn,
            "ProviderName": provider,
            "ProviderURL": f"https://{provider}",
            "UserPoolId": self.pool.id,
        }[attribute_name]

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> UserPool:
        properties = dict(cloudformation_json.get("Properties", {}))
        name = properties.pop("UserPoolName", resource_name)
        pool = cognitoidp_backends[account_id][region_name].create_user_pool(name, properties)
        return cls(pool, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        cognitoidp_backends[account_id][region_name].delete_user_pool(self.pool.id)


class UserPoolClient(CloudFormationModel):
    __module__ = "moto.cognitoidp.cloudformation"

    def __init__(self, client: Any) -> None:
        self.client = client

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Cognito::UserPoolClient"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ClientName"

    @property
    def physical_resource_id(self) -> str:
        return self.client.id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "ClientId"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.client.id

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> UserPoolClient:
        properties = dict(cloudformation_json.get("Properties", {}))
        pool_id = properties.pop("UserPoolId")
        secret = properties.pop("GenerateSecret", False)
        backend = cognitoidp_backends[account_id][region_name]
        return cls(backend.create_user_pool_client(pool_id, secret, properties))

    def delete(self, account_id: str, region_name: str) -> None:
        """Goes with its pool."""


def main() -> None:
    port = int(sys.argv[1])
    cloudformation_models.validate_template_cfn_lint = _errors_only
    EventBus.physical_resource_id = property(lambda bus: bus.name)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    stopped = threading.Event()
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda *_: stopped.set())
    server.start()
    print("ready", flush=True)
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
