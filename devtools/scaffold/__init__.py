"""`make new-service NAME=<name> KIND=api|consumer`: a new service that follows the skeleton.

copier renders ``template/`` (the service's folder: ``serverless.yml`` on the shared blocks of
``serverless/``, a handler, domain, adapter, sample events, tests, a README, a dashboard) into
``services/<name>/``; then the service takes its place in the three files that list services by
hand, each rendered from ``places/``: ``serverless-compose.yml`` (the bus's outputs, and for an API
the users service's JWT issuer, as params), the deploy role in ``bootstrap/deploy-roles.yml``, and
the deploy steps of ``.github/workflows/deploy-stage.yml``. Everything else (the local stack,
``openapi/``, ``make cost``, ``make bench``, the infrastructure checks, ``make changed``) finds the
service from ``services/*/serverless.yml``.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import copier
import jinja2

from devtools.template import ROOT, Services

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "template"
PLACES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "places"),
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # noqa: S701 - YAML, not HTML
)
KINDS = ("api", "consumer")
# A Python package name (the service's code is `src/<name>/`) that also fits every AWS name the
# stack derives from it: `shop-<name>-<stage>-handle-events` within Lambda's 64 characters.
NAME = re.compile(r"[a-z][a-z0-9]{1,19}")
DEPLOY_POLICIES = "  # -- what every service's deploy does"


class NewServiceError(ValueError):
    pass


def check_name(name: str, root: Path) -> None:
    if not NAME.fullmatch(name):
        raise NewServiceError(f"{name!r}: 2 to 20 lowercase letters and digits, starting with a letter")
    if (root / "services" / name).exists():
        raise NewServiceError(f"services/{name} exists already")
    # Each service's src/ is on the import path: its package must not hide another module.
    if importlib.util.find_spec(name) is not None:
        raise NewServiceError(f"{name!r} is the name of an importable module: choose another")


def _insert_before(path: Path, marker: str, text: str) -> None:
    content = path.read_text()
    if marker not in content:
        raise NewServiceError(f"{path.relative_to(path.parents[1])}: no {marker.strip()!r} to insert before")
    path.write_text(content.replace(marker, text + marker, 1))


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text().rstrip("\n") + "\n" + text)


def new_service(name: str, kind: str, root: Path = ROOT) -> Path:
    """Writes services/<name>/ and the service's places; returns the service's folder."""
    if kind not in KINDS:
        raise NewServiceError(f"KIND={kind!r}: one of {', '.join(KINDS)}")
    check_name(name, root)
    target = root / "services" / name
    copier.run_copy(str(TEMPLATE), target, data={"name": name, "kind": kind}, defaults=True, quiet=True)
    # Where the service's imports sort among the others depends on its name: the project's own
    # formatter puts them in order.
    ruff = str(Path(sys.executable).parent / "ruff")
    for command in (
        [ruff, "check", "--quiet", "--fix", "--select", "I", target],
        [ruff, "format", "--quiet", target],
    ):
        subprocess.run(command, cwd=root, check=True)  # noqa: S603 - the project's own tool
    values = {"name": name, "kind": kind, "title": name.capitalize()}

    def place(template: str) -> str:
        return PLACES.get_template(template).render(values)

    _append(root / "serverless-compose.yml", place("serverless-compose.yml.jinja"))
    roles = root / "bootstrap" / "deploy-roles.yml"
    _insert_before(roles, DEPLOY_POLICIES, place("deploy-role.yml.jinja"))
    _append(roles, place("deploy-output.yml.jinja"))
    # The deploy steps run in compose's deploy order: before those of the service that follows.
    order = Services(root).deploy_order()
    following = order[order.index(name) + 1 :]
    workflow = root / ".github" / "workflows" / "deploy-stage.yml"
    if following:
        _insert_before(
            workflow, f"      - name: {following[0]} credentials\n", place("deploy-steps.yml.jinja")
        )
    else:
        _append(workflow, "\n" + place("deploy-steps.yml.jinja").rstrip("\n") + "\n")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the service's name: its folder, package and stack (shop-<name>)")
    parser.add_argument("kind", choices=KINDS, help="api: an HTTP API; consumer: bus events via a queue")
    args = parser.parse_args(argv)
    try:
        target = new_service(args.name, args.kind)
    except NewServiceError as error:
        raise SystemExit(f"new-service: {error}") from None
    print(f"new-service: wrote {target.relative_to(ROOT)}/ and its places in serverless-compose.yml,")
    print("  bootstrap/deploy-roles.yml and .github/workflows/deploy-stage.yml.")
    print("  Next: docs/adding-a-service.md")
