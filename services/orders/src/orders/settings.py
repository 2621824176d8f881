"""The orders functions' configuration, read once from their environment (serverless.yml)."""

from __future__ import annotations

from shared.settings import Settings


class OrdersSettings(Settings):
    table_name: str


class ApiSettings(OrdersSettings):
    intake_queue_url: str


class ConsumerSettings(OrdersSettings):
    dead_letter_queue_name: str


class StarterSettings(Settings):
    state_machine_arn: str
