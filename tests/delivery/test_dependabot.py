"""Dependabot watches every ecosystem the project pins, one grouped pull request per ecosystem."""

import re

import yaml

from devtools.template import ROOT

CONFIG = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
_REQUIREMENT = re.compile(r"^[A-Za-z0-9_.\[\],-]+==[^=\s]+$")


def updates() -> dict[str, dict]:
    return {update["package-ecosystem"]: update for update in CONFIG["updates"]}


def test_dependabot_watches_the_requirements_the_npm_lock_file_and_the_actions():
    assert CONFIG["version"] == 2
    found = updates()
    assert found["pip"]["directory"] == "/requirements"
    assert found["npm"]["directory"] == "/"
    assert found["github-actions"]["directory"] == "/"
    assert (ROOT / "package-lock.json").exists()
    assert list((ROOT / ".github" / "workflows").glob("*.yml"))


def test_every_update_is_grouped_and_scheduled():
    for ecosystem, update in updates().items():
        assert update["groups"], ecosystem
        assert update["schedule"]["interval"] == "weekly", ecosystem


def test_every_requirement_is_pinned_so_dependabot_moves_each_pin():
    for path in (ROOT / "requirements").glob("*.txt"):
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-r "):
                assert _REQUIREMENT.match(line), f"{path.name}: {line} is not pinned with =="
