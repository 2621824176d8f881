"""Code shared by every service: event contracts, publishing, consuming, HTTP and observability.

Copied to the root of every service's zip, so Lambda imports it as ``shared``.
"""
