"""The committed contracts generated from the code: OpenAPI documents and event JSON Schemas."""
