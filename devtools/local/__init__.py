"""The local stack (``make dev``): the AWS endpoint, the HTTP gateway, the bus tap and the API docs."""
