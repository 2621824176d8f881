"""AWS behaviour emulated from the packaged templates: the HTTP API's routes and JWT authorizer,
Lambda's runtime and event source mappings, Step Functions tasks, provisioning into moto and the
moto fixes the project carries. Used by the local stack and by every test suite."""
