"""JSON Schemas of every event, generated from the pydantic models into ``schemas/``.

``python -m devtools.contracts.schemas write`` regenerates them (``make schemas``); ``check`` exits non-zero
when a committed schema and its model drifted apart (the test suite asserts the same).
Each file is ``schemas/<source>/<DetailType>.v<version>.json`` and describes the event's
``detail`` (metadata + data), with the routing fields as ``x-`` annotations; its
``metadata.event_version`` is pinned to the file's version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from devtools.template import ROOT
from shared.events.envelope import DomainEvent, Envelope
from shared.events.registry import EVENT_MODELS

SCHEMAS = ROOT / "schemas"


def schema_path(model: type[DomainEvent]) -> Path:
    return SCHEMAS / model.source / f"{model.detail_type}.v{model.event_version}.json"


def schema_for(model: type[DomainEvent]) -> dict:
    schema = Envelope[model].model_json_schema(mode="serialization")
    # The model allows any version (one metadata model for all events); this file describes one.
    version = schema["$defs"]["EventMetadata"]["properties"]["event_version"]
    version.pop("minimum")
    version["const"] = model.event_version
    schema["title"] = f"{model.detail_type} v{model.event_version}"
    schema["x-source"] = model.source
    schema["x-detail-type"] = model.detail_type
    schema["x-event-version"] = model.event_version
    return schema


def render(model: type[DomainEvent]) -> str:
    return json.dumps(schema_for(model), indent=2, sort_keys=True) + "\n"


def expected() -> dict[Path, str]:
    return {schema_path(model): render(model) for model in EVENT_MODELS}


def drift() -> list[str]:
    """What differs between the models and the committed schemas (empty when in sync)."""
    wanted = expected()
    problems = [
        f"{path.relative_to(ROOT)} is out of date"
        for path, text in wanted.items()
        if not path.exists() or path.read_text() != text
    ]
    problems += [
        f"{path.relative_to(ROOT)} has no model"
        for path in sorted(SCHEMAS.rglob("*.json"))
        if path not in wanted
    ]
    return problems


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "write":
        for path in SCHEMAS.rglob("*.json"):
            path.unlink()
        for path, text in expected().items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        print(f"wrote {len(EVENT_MODELS)} schemas under {SCHEMAS.relative_to(ROOT)}/")
        return 0
    problems = drift()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("run `make schemas` and commit the result", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
