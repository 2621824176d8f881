"""Test environment for every test in the repo: fake credentials, a fixed region, no tracing.

Set before any handler module is imported, so nothing can reach a real AWS account.
"""

import os
import sys
from pathlib import Path

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        # boto3 1.44 sends DynamoDB streams calls to an account-based host moto does not know.
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "shop",
        "POWERTOOLS_DEV": "false",
    }
)
for variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(variable, None)

# Each service's package, importable as Lambda imports it from the root of its zip.
sys.path[:0] = [str(src) for src in sorted(Path(__file__).parent.glob("services/*/src"))]

pytest_plugins = ["devtools.testkit.fixtures"]
