import subprocess
import sys

import pytest

from devtools.template import ROOT
from shared.observability import LazyTracer


def handler(event, context):
    return event


def test_tracer_is_a_no_op_outside_lambda_or_when_disabled(monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    assert LazyTracer().capture_lambda_handler(handler) is handler
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    tracer = LazyTracer()
    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler
    assert tracer.capture_method(handler) is handler


@pytest.mark.parametrize(("disabled", "imports_xray"), [("true", False), ("false", True)])
def test_the_xray_sdk_is_imported_only_when_tracing_is_on(disabled, imports_xray):
    script = (
        "import sys\n"
        "from shared.observability import tracer\n"
        "tracer.capture_lambda_handler(lambda e, c: e)\n"
        "print('aws_xray_sdk.core' in sys.modules)\n"
    )
    env = {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": disabled, "AWS_REGION": "us-east-1"}
    run = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert run.stdout.strip() == str(imports_xray)
