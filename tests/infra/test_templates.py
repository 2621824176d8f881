"""What deploys: every service packages offline, and cfn-lint finds nothing in what it packaged."""

import datetime
import json
import subprocess
import sys
from pathlib import Path

import cfnlint
import pytest
import yaml

from devtools.template import (
    APP_SERVICES,
    HTTP_SERVICES,
    ROOT,
    SERVICES,
    Services,
    TemplateError,
    load_template,
    read_config,
    template_path,
)

# W3005 (a DependsOn that a Ref already implies) comes from the framework's own httpApi output.
ALLOWED_CFN_LINT = {"W3005"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_packaged_a_template_and_its_artifact(service):
    template = load_template(service)
    assert template.resources
    functions = list(template.of_type("AWS::Lambda::Function"))
    # APP_SERVICES reads serverless.yml's functions: the packaged template agrees.
    assert bool(functions) == (service in APP_SERVICES)
    if functions:
        assert (template_path(service).parent / f"shop-{service}.zip").exists()


# AWS's own runtime lifecycle, as cfn-lint ships it (updated with each cfn-lint release).
RUNTIME_LIFECYCLE = json.loads(
    (Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "LmbdRuntimeLifecycle.json").read_text()
)


def runtimes_within_a_year_of_deprecation(runtimes: set[str], today: datetime.date) -> list[str]:
    horizon = today + datetime.timedelta(days=365)
    deprecated = {runtime: RUNTIME_LIFECYCLE.get(runtime, {}).get("deprecated") for runtime in runtimes}
    return sorted(
        f"{runtime} (deprecated {date or 'unknown to cfn-lint'})"
        for runtime, date in deprecated.items()
        if date is None or datetime.date.fromisoformat(date) <= horizon
    )


def test_no_function_runs_on_a_runtime_within_a_year_of_its_deprecation():
    runtimes = {
        properties["Runtime"]
        for service in SERVICES
        for _, properties in load_template(service).of_type("AWS::Lambda::Function")
    }
    assert runtimes
    assert not runtimes_within_a_year_of_deprecation(runtimes, datetime.date.today())


def test_the_runtime_check_flags_a_runtime_near_or_past_its_end():
    assert runtimes_within_a_year_of_deprecation({"python3.11"}, datetime.date(2026, 7, 1))
    assert not runtimes_within_a_year_of_deprecation({"python3.11"}, datetime.date(2026, 6, 1))
    assert runtimes_within_a_year_of_deprecation({"python3.13"}, datetime.date(2028, 7, 1))
    assert not runtimes_within_a_year_of_deprecation({"python3.13"}, datetime.date(2028, 6, 1))
    assert runtimes_within_a_year_of_deprecation({"python9.9"}, datetime.date(2026, 1, 1))


def _unexpected_cfn_lint(paths: list[str]) -> list[str]:
    lint = subprocess.run(  # noqa: S603 - our own tool and files
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = [line for line in lint.stdout.splitlines() if line.strip()]
    unexpected = [line for line in findings if line.split(":")[5] not in ALLOWED_CFN_LINT]
    if lint.returncode not in (0, 4):  # 4: warnings only
        unexpected.append(f"cfn-lint exited {lint.returncode}: {lint.stderr}")
    return unexpected


def test_cfn_lint_finds_nothing_but_the_framework_warning():
    unexpected = _unexpected_cfn_lint([str(template_path(service)) for service in SERVICES])
    assert not unexpected, "\n".join(unexpected)


def test_cfn_lint_finds_nothing_in_prod_either(prod_stacks):
    # prod differs by SnapStart (E2530 checks the runtime supports it), the alias and its versions.
    paths = [str(template_path(service, prod_stacks.packaged)) for service in prod_stacks.services]
    unexpected = _unexpected_cfn_lint(paths)
    assert not unexpected, "\n".join(unexpected)


def test_compose_deploys_the_bus_first_and_passes_outputs_that_exist_to_params_that_exist():
    compose = yaml.safe_load((ROOT / "serverless-compose.yml").read_text())["services"]
    assert set(compose) == set(SERVICES)
    for name, entry in compose.items():
        assert (ROOT / entry["path"] / "serverless.yml").exists()
        # The params of an application service are the shared serverless/params.yml, included.
        defaults = (read_config(ROOT / entry["path"] / "serverless.yml", "params") or {}).get("default", {})
        for param, value in (entry.get("params") or {}).items():
            assert param in defaults, f"{name}: param {param} has no default, so `osls package` alone fails"
            producer, output = value.removeprefix("${").removesuffix("}").split(".")
            assert output in load_template(producer).body.get("Outputs", {}), (
                f"{producer} has no output {output}"
            )
    assert "params" not in compose["bus"]
    consumers = [entry["params"] for name, entry in compose.items() if name != "bus"]
    assert all(params["eventBusName"] == "${bus.EventBusName}" for params in consumers)


NEW_SERVICE = """\
service: shop-audit
functions:
  api:
    handler: audit/handlers/api.handler
    events:
      - httpApi: { method: GET, path: /audit }
"""


@pytest.fixture
def repo_with_a_new_service(tmp_path):
    """A copy of the services' serverless.yml files (with the shared blocks they include) and
    compose, plus services/audit."""
    (tmp_path / "serverless").symlink_to(ROOT / "serverless")
    for service in SERVICES:
        (tmp_path / "services" / service).mkdir(parents=True)
        (tmp_path / "services" / service / "serverless.yml").write_text(
            (ROOT / "services" / service / "serverless.yml").read_text()
        )
    (tmp_path / "services" / "audit").mkdir()
    (tmp_path / "services" / "audit" / "serverless.yml").write_text(NEW_SERVICE)
    compose = yaml.safe_load((ROOT / "serverless-compose.yml").read_text())
    # Listed first, but it takes the users service's outputs, so it deploys after them.
    compose["services"] = {
        "audit": {"path": "services/audit", "params": {"jwtIssuerUrl": "${users.JwtIssuerUrl}"}},
        **compose["services"],
    }
    (tmp_path / "serverless-compose.yml").write_text(yaml.safe_dump(compose, sort_keys=False))
    return tmp_path


def test_the_services_are_the_folders_with_a_serverless_yml_in_compose_deploy_order():
    assert set(SERVICES) == {path.parent.name for path in ROOT.glob("services/*/serverless.yml")}
    assert SERVICES[0] == "bus"
    assert set(HTTP_SERVICES) <= set(APP_SERVICES) < set(SERVICES)


def test_a_new_service_folder_is_picked_up_with_its_functions_and_routes(repo_with_a_new_service):
    services = Services(repo_with_a_new_service)
    order = services.deploy_order()
    assert sorted(order) == sorted([*SERVICES, "audit"])
    assert order.index("audit") > order.index("users")
    assert services.has_functions("audit")
    assert services.has_http_api("audit")
    assert not services.has_functions("bus")


def test_a_service_folder_compose_does_not_list_is_an_error(repo_with_a_new_service):
    compose = yaml.safe_load((repo_with_a_new_service / "serverless-compose.yml").read_text())
    del compose["services"]["audit"]
    (repo_with_a_new_service / "serverless-compose.yml").write_text(yaml.safe_dump(compose))
    with pytest.raises(TemplateError, match=r"differ: \['audit'\]"):
        Services(repo_with_a_new_service)


def test_the_makefile_finds_a_new_service_folder(repo_with_a_new_service):
    print_services = ["--eval", "print-services: ; @echo $(SERVICES)", "print-services"]
    run = subprocess.run(  # noqa: S603 - make on a temporary copy
        # --no-print-directory: under `make test` the outer make's flags would add "Entering directory".
        ["make", "--no-print-directory", "-s", "-f", str(ROOT / "Makefile"), *print_services],  # noqa: S607
        cwd=repo_with_a_new_service,
        capture_output=True,
        text=True,
        check=True,
    )
    assert sorted(run.stdout.split()) == sorted([*SERVICES, "audit"])
