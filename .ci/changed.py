"""The services a change affects, one a line, in deploy order: `make changed BASE=<git ref>`.

What each service's template and zip are built from:

- its own folder, and the files its ``serverless.yml`` includes with ``${file(...)}`` (the shared
  blocks of ``serverless/``), and what they include;
- ``shared/``, ``requirements/`` and ``tools/`` (every zip carries them), for services with functions;
- ``package.json``, ``package-lock.json`` (the framework that writes every template) and
  ``serverless-compose.yml`` (the params it passes), for every service.

A service's template (its ``serverless.yml`` and includes) also makes the outputs that compose passes
to other services, so a change there affects the services that take them (the bus: every consumer).
Its code cannot change an output, so a code change affects the service alone.

The services are the folders ``services/*/serverless.yml``; the deploy order is compose's: a service
after every service whose outputs it takes (``${bus.EventBusArn}``) or that it ``dependsOn``, ties in
the order of ``serverless-compose.yml``. A base git cannot resolve (the first push of a branch, a
force push) affects every service. Run from the repository's root.
"""

from __future__ import annotations

import argparse
import posixpath
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's devtools

from devtools import template

EVERY_SERVICE = ("package.json", "package-lock.json", "serverless-compose.yml")
EVERY_FUNCTION = ("shared/", "requirements/", "tools/")
_INCLUDE = re.compile(r"\bfile\(([^)]+)\)")  # ${file(...)}, or file(...) as a fallback


def _under(path: str, prefixes: tuple[str, ...] | list[str]) -> bool:
    return any(path == prefix.rstrip("/") or path.startswith(prefix) for prefix in prefixes)


class Services(template.Services):
    def template_inputs(self, name: str) -> list[str]:
        """The service's serverless.yml and the files it includes, and those include (the framework
        reads every path relative to the service's folder), relative to the root."""
        folder = f"services/{name}"
        inputs = [f"{folder}/serverless.yml"]
        for path in inputs:  # grows as includes are found
            file = self.root / path
            text = file.read_text() if file.is_file() else ""
            for include in _INCLUDE.findall(text):
                included = posixpath.normpath(posixpath.join(folder, include.strip()))
                if included not in inputs:
                    inputs.append(included)
        return inputs

    def affected_by(self, paths: list[str]) -> list[str]:
        affected = set()
        for name in self.names:
            inputs = [f"services/{name}/", *self.template_inputs(name), *EVERY_SERVICE]
            if self.has_functions(name):
                inputs.extend(EVERY_FUNCTION)
            if any(_under(path, inputs) for path in paths):
                affected.add(name)
            if any(_under(path, self.template_inputs(name)) for path in paths):
                affected |= {other for other, producers in self.takes_outputs_of.items() if name in producers}
        return [name for name in self.deploy_order() if name in affected]


def changed_paths(base: str, head: str) -> list[str] | None:
    """Files changed between the merge base of ``base`` and ``head``; None when git lacks ``base``."""
    known = subprocess.run(  # noqa: S603 - git with our arguments
        ["git", "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"],  # noqa: S607
        capture_output=True,
        check=False,
    )
    if known.returncode != 0:
        return None
    diff = subprocess.run(  # noqa: S603
        ["git", "diff", "--name-only", f"{base}...{head}"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    )
    return diff.stdout.split()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the git ref the change is compared with (a branch, a commit)")
    parser.add_argument("--head", default="HEAD")
    args = parser.parse_args(argv)
    try:
        services = Services(Path.cwd())
    except template.TemplateError as error:
        raise SystemExit(str(error)) from None
    paths = changed_paths(args.base, args.head)
    if paths is None:
        print(f"changed: git does not know {args.base!r}: every service", file=sys.stderr)
        affected = services.deploy_order()
    else:
        affected = services.affected_by(paths)
    print("\n".join(affected))


if __name__ == "__main__":
    main()
