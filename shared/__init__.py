"""Code shared by every service: event contracts, publishing, consuming, HTTP and observability.

Copied to the root of every service's zip, so Lambda imports it as ``shared``.
"""

import gc
import os

# Init allocates many long-lived objects (modules, models, clients) and the collector would walk
# them again and again while they load: in a Lambda environment it is off until the entry point is
# built, which then moves everything into the permanent generation (``lambda_entrypoint``).
if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    gc.disable()
