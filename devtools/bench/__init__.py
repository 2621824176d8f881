"""Performance measurements, one module per figure; ``python -m devtools.bench`` runs them all and
prints one table each (``make bench``; docs/performance.md keeps the latest).

This machine is shared and noisy, so every timing is set against a baseline measured in the same
run, interleaved with it, and reported as min and median over several runs and as a ratio.

Importing the package sets what the in-process measurements need before any handler or
Powertools module reads it (Powertools reads its settings when its objects are built, at import):
fake credentials that can reach no account, the region, the metrics namespace, no X-Ray.
"""

import os
import warnings

for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",  # boto3's DescribeStream host is unknown to moto
    "POWERTOOLS_METRICS_NAMESPACE": "shop",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ.setdefault(_name, _value)
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
# Powertools warns when an invocation records no business metric; that is normal here.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
