"""Developer tooling: reading the packaged templates, the local stack, schema generation."""
