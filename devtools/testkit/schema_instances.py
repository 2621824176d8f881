"""A valid instance of a committed event schema (``schemas/``), the simplest one: what a producer
of that version may send and a consumer must accept.

Written here rather than taken from hypothesis-jsonschema: its last release (0.23.1) fails on the
pinned hypothesis ("'many' object has no attribute 'more'"). Strings with a pattern come from
hypothesis' own ``from_regex``, shrunk to the simplest match; every instance is checked against its
schema, so a keyword this builder does not know fails loudly instead of passing an invalid event.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

DATE_TIME = "2026-01-01T00:00:00Z"
_FIND = settings(database=None, suppress_health_check=list(HealthCheck), max_examples=1000)


def instance(schema: dict[str, Any], *, every_field: bool = False) -> Any:
    """The simplest instance of ``schema``: only its required fields, or with ``every_field`` each
    optional one too (given a value, not null), so a consumer meets both ends of a version."""
    built = _build(schema, schema, every_field)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(built)]
    if problems:
        raise ValueError(f"built an invalid instance of {schema.get('title')}: {problems}")
    return built


def _build(node: dict[str, Any], root: dict[str, Any], every_field: bool) -> Any:
    if "$ref" in node:
        return _build(root["$defs"][node["$ref"].rsplit("/", 1)[1]], root, every_field)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    if "anyOf" in node:  # a value rather than null, where a field may be either
        options = [option for option in node["anyOf"] if option.get("type") != "null"] or node["anyOf"]
        return _build(options[0], root, every_field)
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties", {})
        names = properties if every_field else node.get("required", [])
        return {name: _build(properties[name], root, every_field) for name in names}
    if kind == "array":
        return [_build(node.get("items", {}), root, every_field) for _ in range(node.get("minItems", 0))]
    if kind == "string":
        return _string(node)
    if kind in ("integer", "number"):
        return node.get("minimum", node.get("exclusiveMinimum", -1) + 1)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    raise ValueError(f"no instance for schema keyword set {sorted(node)}")


def _string(node: dict[str, Any]) -> str:
    if node.get("format") == "date-time":
        return DATE_TIME
    shortest, longest = node.get("minLength", 1), node.get("maxLength", 10_000)
    if "pattern" not in node:
        return "x" * shortest
    matches = st.from_regex(node["pattern"], fullmatch=True)
    return find(matches, lambda text: shortest <= len(text) <= longest, settings=_FIND)
