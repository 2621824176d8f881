"""Least privilege, checked on the packaged CloudFormation of every service (docs/architecture.md, IAM).

- ``*`` as a resource only for the actions AWS offers no resource scope for (X-Ray, metrics, the
  CloudWatch Logs delivery a state machine logs through);
- no wildcard actions;
- DynamoDB actions only on the service's own tables, their indexes and streams;
- SQS and Step Functions actions only on the service's own queues and state machines;
- ``events:PutEvents`` only on the shared bus, conditioned on the service's own ``events:source``;
- CloudWatch Logs writes only to the service's own function log groups;
- no managed policy but AWS's ``AWSCodeDeployRoleForLambdaLimited``, on a role only CodeDeploy
  assumes (prod's gradual deploys: the policy AWS keeps in step with what CodeDeploy calls).

The deploy roles of the bootstrap stack (``bootstrap/deploy-roles.yml``) get the same treatment: no
wildcard action, ``*`` only where AWS names no resource, every other resource the service's own
(or listed below with the reason), trusted only by this repository's main and environments, and
allowed everything the service's packaged template deploys.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from devtools.template import ACCOUNT, APP_SERVICES, REGION, ROOT, SERVICES, Stacks, with_changed_resources

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
        if resource["Type"] not in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        props = stacks.resolve(service, resource["Properties"])
        if resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        else:
            documents = [props["PolicyDocument"]]
        for document in documents:
            for statement in _as_list(document["Statement"]):
                if statement.get("Effect") == "Allow":
                    yield logical_id, statement


# The AWS managed policies a role may attach, and the one service that may assume such a role.
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited": "codedeploy.amazonaws.com",
}


def managed_policy_violations(stacks: Stacks, service: str) -> list[str]:
    found = []
    for logical_id, props in stacks.templates[service].of_type("AWS::IAM::Role"):
        props = stacks.resolve(service, props)
        assumed_by = {
            principal
            for statement in _as_list(props["AssumeRolePolicyDocument"]["Statement"])
            for principal in _as_list(statement["Principal"].get("Service", []))
        }
        for policy in props.get("ManagedPolicyArns", []):
            if policy not in ALLOWED_MANAGED_POLICIES:
                found.append(f"{service}/{logical_id}: managed policy {policy}")
            elif assumed_by != {ALLOWED_MANAGED_POLICIES[policy]}:
                found.append(f"{service}/{logical_id}: {policy} on a role {sorted(assumed_by)} assume")
    return found


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
    assert managed_policy_violations(stacks, service) == []


def test_every_role_is_least_privilege_in_prod_too(prod_stacks):
    """prod adds CodeDeploy's role (gradual deploys) to every service with functions."""
    for service in prod_stacks.services:
        assert violations(prod_stacks, service) == []
        assert managed_policy_violations(prod_stacks, service) == []
        roles = [props for _, props in prod_stacks.templates[service].of_type("AWS::IAM::Role")]
        assert any(props.get("ManagedPolicyArns") for props in roles), service


@pytest.mark.parametrize(
    ("policy", "assumed_by", "complaint"),
    [
        ("arn:aws:iam::aws:policy/AWSLambda_FullAccess", "codedeploy.amazonaws.com", "managed policy"),
        (
            "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited",
            "lambda.amazonaws.com",
            "on a role ['lambda.amazonaws.com'] assume",
        ),
    ],
)
def test_the_lint_catches_managed_policies(policy, assumed_by, complaint):
    def attach(resources: dict) -> None:
        role = resources["ApiRole"]["Properties"]
        role["ManagedPolicyArns"] = [policy]
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] = {"Service": assumed_by}

    found = managed_policy_violations(with_changed_resources("users", attach), "users")
    assert any(complaint in problem for problem in found), found


@pytest.mark.parametrize("service", APP_SERVICES)
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


# -- the deploy roles of the bootstrap stack (bootstrap/deploy-roles.yml) ---------------------------
#
# Each role may touch only its service's names (shop-<service>-...), through the one policy variable
# the template uses, its own `shop-service` tag; the few grants AWS names no resource for, or whose
# resources carry generated ids, are listed here with the reason.

BOOTSTRAP = ROOT / "bootstrap" / "deploy-roles.yml"
REPOSITORY = "example-org/serverless-shop"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
SERVICE_TAG = "${aws:PrincipalTag/shop-service}"
DEPLOY_STAR_ONLY = {
    "cloudformation:ValidateTemplate",  # names no resource
    "lambda:ListEventSourceMappings",  # names no resource
    "cognito-idp:CreateUserPool",  # a new pool has no ARN yet
    *LOG_DELIVERY_ACTIONS,  # HTTP API access logs, the state machine's log
}
# Resources named by generated ids (HTTP APIs, user pools, event source mappings), or shared by
# every stage of the bus; anything else must carry the service's own prefix.
GENERATED_OR_SHARED = {
    f"arn:aws:apigateway:{REGION}::/apis": "every service with an HTTP API",
    f"arn:aws:apigateway:{REGION}::/apis/*": "every service with an HTTP API",
    f"arn:aws:apigateway:{REGION}::/tags/*": "every service with an HTTP API",
    f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:*": "conditioned on the service's functions",
    f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/*": "users",
    f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/shop-*": "bus",
    f"arn:aws:events:{REGION}:{ACCOUNT}:archive/shop-*": "bus",
    f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentconfig:CodeDeployDefault.*": "AWS (read only)",
}
# What a deploy role may attach to a role of its own: CodeDeploy's policy, nothing wider.
CODEDEPLOY_POLICY = "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"


def _resolve_bootstrap(value):
    """``value`` of the bootstrap template as CloudFormation would give it in the test account."""
    if isinstance(value, list):
        return [_resolve_bootstrap(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
        return {key: _resolve_bootstrap(item) for key, item in value.items()}
    ((function, argument),) = value.items()
    known = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "GitHubRepository": REPOSITORY,
        "GitHubOidcProvider": PROVIDER,
    }
    if function == "Ref":
        return known.get(argument, argument)  # a managed policy: its logical id
    if function == "Fn::Sub":
        text = re.sub(r"\$\{([^!}][^}]*)\}", lambda match: known[match.group(1)], argument)
        return text.replace("${!", "${")
    if function == "Fn::If":
        condition, if_true, _if_false = argument
        assert condition == "CreateProvider", condition
        return _resolve_bootstrap(if_true)  # the provider either way: created or named
    raise AssertionError(f"bootstrap: {function} is not understood by the lint")


@dataclass
class DeployRole:
    service: str
    trust: dict
    statements: list[dict]


def deploy_roles() -> dict[str, DeployRole]:
    template = cfn_yaml.load(str(BOOTSTRAP))
    resources = template["Resources"]
    roles = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        props = _resolve_bootstrap(resource["Properties"])
        (service,) = [tag["Value"] for tag in props["Tags"] if tag["Key"] == "shop-service"]
        assert props["RoleName"] == f"shop-deploy-{service}"
        documents = [
            resources[policy]["Properties"]["PolicyDocument"] for policy in props["ManagedPolicyArns"]
        ]
        documents = json.loads(json.dumps(_resolve_bootstrap(documents)).replace(SERVICE_TAG, service))
        statements = [s for document in documents for s in _as_list(document["Statement"])]
        assert not props.get("Policies"), "inline policies escape the lint: use the managed policies"
        roles[service] = DeployRole(service, props["AssumeRolePolicyDocument"], statements)
    return roles


def deploy_role_violations(role: DeployRole) -> list[str]:
    own = f"shop-{role.service}-"
    found = []
    for statement in role.statements:
        actions = _as_list(statement["Action"])
        resources = [str(r) for r in _as_list(statement["Resource"])]
        where = f"shop-deploy-{role.service}: {statement.get('Sid')}"
        if statement["Effect"] != "Allow":
            continue
        if any("*" in action for action in actions):
            found.append(f"{where}: wildcard action")
        if "*" in resources and not set(actions) <= DEPLOY_STAR_ONLY:
            found.append(f"{where}: '*' resource for {sorted(set(actions) - DEPLOY_STAR_ONLY)}")
        for resource in resources:
            if resource == "*" or own in resource:
                continue
            if resource not in GENERATED_OR_SHARED:
                found.append(f"{where}: {resource} is not the service's")
            elif GENERATED_OR_SHARED[resource] in (
                role.service,
                "every service with an HTTP API",
                "AWS (read only)",
            ):
                continue
            elif "event-source-mapping" in resource:
                condition = statement.get("Condition", {}).get("ArnLike", {}).get("lambda:FunctionArn", "")
                if f":function:{own}" not in condition:
                    found.append(f"{where}: event source mappings beyond the service's functions")
            else:
                found.append(f"{where}: {resource} belongs to {GENERATED_OR_SHARED[resource]}")
        if "iam:PassRole" in actions:
            passed_to = statement.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService")
            if not passed_to:
                found.append(f"{where}: iam:PassRole without iam:PassedToService")
        if {"iam:AttachRolePolicy", "iam:DetachRolePolicy"} & set(actions):
            policy = statement.get("Condition", {}).get("ArnEquals", {}).get("iam:PolicyARN")
            if policy != CODEDEPLOY_POLICY:
                found.append(f"{where}: attaches {policy or 'any policy'}, not only {CODEDEPLOY_POLICY}")
    return found


def test_every_deploy_role_is_least_privilege():
    roles = deploy_roles()
    assert sorted(roles) == sorted(SERVICES)
    for role in roles.values():
        assert deploy_role_violations(role) == []


def test_deploy_roles_trust_only_this_repositorys_main_and_environments():
    for role in deploy_roles().values():
        (statement,) = role.trust["Statement"]
        assert statement["Principal"] == {"Federated": PROVIDER}
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"  # no sts:TagSession
        assert statement["Condition"] == {
            "StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub": [
                    f"repo:{REPOSITORY}:ref:refs/heads/main",
                    f"repo:{REPOSITORY}:environment:dev",
                    f"repo:{REPOSITORY}:environment:prod",
                ],
            }
        }


@pytest.mark.parametrize(
    ("service", "statement", "complaint"),
    [
        ("orders", {"Action": "lambda:*", "Resource": "*"}, "wildcard action"),
        ("orders", {"Action": "dynamodb:CreateTable", "Resource": "*"}, "'*' resource"),
        (
            "orders",
            {
                "Action": "dynamodb:CreateTable",
                "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/shop-users-dev",
            },
            "is not the service's",
        ),
        (
            "orders",
            {
                "Action": "cognito-idp:DeleteUserPool",
                "Resource": f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/*",
            },
            "belongs to users",
        ),
        (
            "orders",
            {
                "Action": "lambda:CreateEventSourceMapping",
                "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:*",
            },
            "beyond the service's functions",
        ),
        (
            "orders",
            {"Action": "iam:PassRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/shop-orders-*"},
            "without iam:PassedToService",
        ),
        (
            "orders",
            {"Action": "iam:AttachRolePolicy", "Resource": f"arn:aws:iam::{ACCOUNT}:role/shop-orders-*"},
            "attaches any policy",
        ),
        (
            "orders",
            {
                "Action": "codedeploy:CreateDeployment",
                "Resource": f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:shop-users-*/*",
            },
            "is not the service's",
        ),
    ],
)
def test_the_deploy_role_lint_catches_wide_statements(service, statement, complaint):
    role = deploy_roles()[service]
    role.statements.append({"Effect": "Allow", "Sid": "Injected", **statement})
    assert any(complaint in problem for problem in deploy_role_violations(role))


# What CloudFormation calls, as the deploying principal, to create each resource type the services
# deploy, on which ARN, and with which condition keys. A new resource type fails the next test
# until its deploy permission is granted in the bootstrap stack and named here.
DeployCall = tuple[str, str, dict[str, str]]


def _deploy_calls(stacks: Stacks, service: str, logical_id: str, resource: dict) -> list[DeployCall]:
    calls = [(action, arn, {}) for action, arn in _create_calls(stacks, service, logical_id, resource)]
    raw = resource.get("Properties", {})
    if resource["Type"] == "AWS::Lambda::EventSourceMapping":
        function = stacks.resolve(service, raw["FunctionName"])
        calls = [(action, arn, {"lambda:FunctionArn": function}) for action, arn, _ in calls]
    if resource["Type"] == "AWS::IAM::Role":
        role = stacks.arn(service, logical_id)
        for statement in _as_list(raw["AssumeRolePolicyDocument"]["Statement"]):
            for principal in _as_list(statement["Principal"]["Service"]):
                calls.append(("iam:PassRole", role, {"iam:PassedToService": principal}))
        for policy in stacks.resolve(service, raw.get("ManagedPolicyArns", [])):
            calls.append(("iam:AttachRolePolicy", role, {"iam:PolicyARN": policy}))
    # An alias that CodeDeploy moves: CloudFormation starts the deployment and follows it.
    update = resource.get("UpdatePolicy", {}).get("CodeDeployLambdaAliasUpdate")
    if update:
        group = _deployment_group_arn(
            stacks.resolve(service, update["ApplicationName"]),
            stacks.resolve(service, update["DeploymentGroupName"]),
        )
        calls += [("codedeploy:CreateDeployment", group, {}), ("codedeploy:GetDeployment", group, {})]
    return calls


def _deployment_group_arn(application: str, group: str) -> str:
    return f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:{application}/{group}"


def _create_calls(stacks: Stacks, service: str, logical_id: str, resource: dict) -> list[tuple[str, str]]:
    raw = resource.get("Properties", {})

    def prop(key: str):  # only the names: other properties may need what no template shows
        return stacks.resolve(service, raw.get(key))

    prefix = f"{REGION}:{ACCOUNT}"
    name = stacks.physical_name(service, logical_id) if resource["Type"] != "AWS::S3::Bucket" else None
    api = f"arn:aws:apigateway:{REGION}::/apis/a1b2c3"
    pool = f"arn:aws:cognito-idp:{prefix}:userpool/{REGION}_AbC123"
    bucket = f"arn:aws:s3:::{stacks.stack_name(service)}-serverlessdeploymentbucket-abc123"
    function = str(prop("FunctionName") or "")
    function = function if function.startswith("arn:") else f"arn:aws:lambda:{prefix}:function:{function}"
    calls = {
        "AWS::Lambda::Function": [("lambda:CreateFunction", stacks.arn(service, logical_id))],
        "AWS::Lambda::Version": [("lambda:PublishVersion", function)],
        "AWS::Lambda::Alias": [("lambda:CreateAlias", function)],
        "AWS::Lambda::Permission": [("lambda:AddPermission", function)],
        "AWS::Lambda::EventSourceMapping": [
            ("lambda:CreateEventSourceMapping", f"arn:aws:lambda:{prefix}:event-source-mapping:e1")
        ],
        "AWS::IAM::Role": [("iam:CreateRole", stacks.arn(service, logical_id))],  # + PassRole, above
        "AWS::Logs::LogGroup": [("logs:CreateLogGroup", stacks.arn(service, logical_id))],
        "AWS::DynamoDB::Table": [("dynamodb:CreateTable", stacks.arn(service, logical_id))],
        "AWS::SQS::Queue": [("sqs:CreateQueue", stacks.arn(service, logical_id))],
        "AWS::SQS::QueuePolicy": [
            ("sqs:SetQueueAttributes", f"arn:aws:sqs:{prefix}:{url.rsplit('/', 1)[1]}")
            for url in prop("Queues") or []
        ],
        "AWS::SNS::Topic": [("sns:CreateTopic", stacks.arn(service, logical_id))],
        "AWS::CloudWatch::Alarm": [
            ("cloudwatch:PutMetricAlarm", f"arn:aws:cloudwatch:{prefix}:alarm:{prop('AlarmName')}")
        ],
        "AWS::CloudWatch::Dashboard": [
            ("cloudwatch:PutDashboard", f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{prop('DashboardName')}")
        ],
        "AWS::StepFunctions::StateMachine": [("states:CreateStateMachine", stacks.arn(service, logical_id))],
        "AWS::Events::Rule": [
            ("events:PutRule", f"arn:aws:events:{prefix}:rule/{prop('EventBusName')}/{name}"),
            ("events:PutTargets", f"arn:aws:events:{prefix}:rule/{prop('EventBusName')}/{name}"),
        ],
        "AWS::Events::EventBus": [("events:CreateEventBus", stacks.arn(service, logical_id))],
        "AWS::Events::EventBusPolicy": [
            ("events:PutPermission", f"arn:aws:events:{prefix}:event-bus/{prop('EventBusName')}")
        ],
        "AWS::Events::Archive": [
            ("events:CreateArchive", f"arn:aws:events:{prefix}:archive/{prop('ArchiveName')}")
        ],
        "AWS::S3::Bucket": [("s3:CreateBucket", bucket), ("s3:PutObject", f"{bucket}/serverless/x.zip")],
        "AWS::S3::BucketPolicy": [("s3:PutBucketPolicy", bucket)],
        "AWS::ApiGatewayV2::Api": [("apigateway:POST", f"arn:aws:apigateway:{REGION}::/apis")],
        "AWS::ApiGatewayV2::Authorizer": [("apigateway:POST", f"{api}/authorizers")],
        "AWS::ApiGatewayV2::Integration": [("apigateway:POST", f"{api}/integrations")],
        "AWS::ApiGatewayV2::Route": [("apigateway:POST", f"{api}/routes")],
        "AWS::ApiGatewayV2::Stage": [("apigateway:POST", f"{api}/stages")],
        "AWS::Cognito::UserPool": [("cognito-idp:CreateUserPool", "*")],
        "AWS::Cognito::UserPoolClient": [("cognito-idp:CreateUserPoolClient", pool)],
        "AWS::Cognito::UserPoolGroup": [("cognito-idp:CreateGroup", pool)],
        "AWS::CodeDeploy::Application": [
            (
                "codedeploy:CreateApplication",
                f"arn:aws:codedeploy:{prefix}:application:{prop('ApplicationName')}",
            )
        ],
        "AWS::CodeDeploy::DeploymentGroup": [
            (
                "codedeploy:CreateDeploymentGroup",
                _deployment_group_arn(prop("ApplicationName"), prop("DeploymentGroupName")),
            ),
            (
                "codedeploy:GetDeploymentConfig",
                f"arn:aws:codedeploy:{prefix}:deploymentconfig:{prop('DeploymentConfigName')}",
            ),
        ],
    }
    assert resource["Type"] in calls, (
        f"{service}/{logical_id}: no deploy permission known for {resource['Type']}"
    )
    return calls[resource["Type"]]


def _condition_holds(condition: dict, context: dict[str, str]) -> bool:
    """The operators the bootstrap stack uses; a key the call does not carry fails, as in IAM."""
    for operator, keys in condition.items():
        for key, expected in keys.items():
            if key not in context:
                return False
            patterns = _as_list(expected)
            if operator in ("StringEquals", "ArnEquals") and context[key] not in patterns:
                return False
            if operator == "ArnLike" and not any(fnmatch.fnmatchcase(context[key], p) for p in patterns):
                return False
            if operator not in ("StringEquals", "ArnEquals", "ArnLike"):
                raise AssertionError(f"condition operator {operator} is not understood by the lint")
    return True


def allows(statements: list[dict], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    return any(
        statement["Effect"] == "Allow"
        and action in _as_list(statement["Action"])
        and any(fnmatch.fnmatchcase(resource, pattern) for pattern in _as_list(statement["Resource"]))
        and _condition_holds(statement.get("Condition", {}), context or {})
        for statement in statements
    )


def missing_deploy_permissions(stacks: Stacks, service: str, role: DeployRole) -> list[str]:
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stacks.stack_name(service)}/0f1e2d"
    calls: list[DeployCall] = [
        ("cloudformation:CreateStack", stack, {}),
        ("cloudformation:DeleteStack", stack, {}),
    ]
    for logical_id, resource in stacks.templates[service].resources.items():
        calls.extend(_deploy_calls(stacks, service, logical_id, resource))
    return [
        f"{action} on {arn}" + (f" with {context}" if context else "")
        for action, arn, context in calls
        if not allows(role.statements, action, arn, context)
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_each_deploy_role_may_deploy_everything_its_service_packages(stacks, service):
    assert missing_deploy_permissions(stacks, service, deploy_roles()[service]) == []


def test_each_deploy_role_may_deploy_its_prod_stack_too(prod_stacks):
    """prod adds resources dev lacks (SnapStart's versions and aliases, the gradual deploys'
    CodeDeploy application, deployment groups, role and aliases)."""
    roles = deploy_roles()
    for service in prod_stacks.services:
        assert missing_deploy_permissions(prod_stacks, service, roles[service]) == []


def test_the_deploy_role_coverage_holds_each_grant_to_its_condition(prod_stacks):
    """Passing CodeDeploy its role needs the grant for codedeploy.amazonaws.com, not another's."""
    role = deploy_roles()["users"]
    role.statements = [s for s in role.statements if s.get("Sid") != "PassOwnRolesToCodeDeploy"]
    missing = missing_deploy_permissions(prod_stacks, "users", role)
    assert missing == [
        f"iam:PassRole on {prod_stacks.arn('users', 'DeployRole')}"
        " with {'iam:PassedToService': 'codedeploy.amazonaws.com'}"
    ]


def test_a_deploy_role_may_not_deploy_another_services_resources(stacks):
    missing = missing_deploy_permissions(stacks, "users", deploy_roles()["orders"])
    assert any("dynamodb:CreateTable on" in m and "table/shop-users-dev" in m for m in missing), missing
    assert any("cognito-idp:CreateUserPoolClient" in m for m in missing), missing


def test_cfn_lint_finds_nothing_in_the_bootstrap_stack_informational_checks_included():
    lint = subprocess.run(  # noqa: S603 - our own tool and file
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--format",
            "parseable",
            "--include-checks",
            "I",
            "--",
            str(BOOTSTRAP),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
