"""The payment provider. Only a deterministic fake exists so far: a real provider's client plugs
in behind the same ``PaymentProvider`` interface, with its API key read from Secrets Manager.

Fake tokens: ``tok_ok`` is charged; ``tok_decline`` is a hard decline; ``tok_flaky`` fails
transiently on its first two attempts and is charged on the third; ``tok_unavailable`` always
fails transiently (the retries run out); any other token is declined. The attempt number comes
from the order, since each attempt is a separate Lambda invocation.
"""

from __future__ import annotations

from orders.domain.ports import ChargeRequest, PaymentDeclined, PaymentTransientError

# Test tokens, not secrets.
OK = "tok_ok"
DECLINE = "tok_decline"
FLAKY = "tok_flaky"
UNAVAILABLE = "tok_unavailable"
FLAKY_FAILURES = 2


class FakePaymentProvider:
    def charge(self, request: ChargeRequest) -> str:
        token = request.payment_token
        if token == UNAVAILABLE or (token == FLAKY and request.attempt <= FLAKY_FAILURES):
            raise PaymentTransientError(f"provider timeout on attempt {request.attempt}")
        if token not in (OK, FLAKY):
            raise PaymentDeclined("card declined" if token == DECLINE else "unknown payment token")
        return f"ch_{request.order_id}"

    def refund(self, charge_id: str) -> str:
        return "re_" + charge_id.removeprefix("ch_")
