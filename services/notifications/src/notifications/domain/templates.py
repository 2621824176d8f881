"""The e-mails this service sends: a subject and a plain-text body per template, with ``$name``
placeholders filled from the values recorded with the notification."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Template


@dataclass(frozen=True)
class Email:
    subject: str
    body: str


_SIGNATURE = "\n\nThe Shop team"

TEMPLATES: dict[str, Email] = {
    "welcome": Email(
        subject="Welcome to the Shop, $name",
        body="Hello $name,\n\nyour account is ready. Happy shopping!" + _SIGNATURE,
    ),
    "order_confirmed": Email(
        subject="Your order $order_id is confirmed",
        body="Hello $name,\n\nwe have received your payment of $total $currency for order $order_id."
        "\nYour invoice number is $invoice_number." + _SIGNATURE,
    ),
    "order_failed": Email(
        subject="Your order $order_id could not be completed",
        body="Hello $name,\n\nwe could not complete order $order_id: $reason." + _SIGNATURE,
    ),
    "order_cancelled": Email(
        subject="Your order $order_id was cancelled",
        body="Hello $name,\n\norder $order_id was cancelled: $reason." + _SIGNATURE,
    ),
}


def render(template: str, values: Mapping[str, str]) -> Email:
    """The e-mail of ``template`` filled with ``values`` (a missing value is a programming error)."""
    email = TEMPLATES[template]
    subject = Template(email.subject).substitute(values)
    return Email(
        # A subject is one line, whatever a value holds (no header injection through a name).
        subject=" ".join(subject.split()),
        body=Template(email.body).substitute(values),
    )
