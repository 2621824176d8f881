import json

import boto3

from devtools.testkit.records import stream_records
from shared.events import Envelope
from shared.events.users import UserDeleted
from shared.outbox import outbox_put, publish_stream_batch
from shared.publisher import EventPublisher

TABLE = "shop-users-dev"


def write_with_events(user_ids: list[str]) -> None:
    dynamodb = boto3.client("dynamodb")
    for user_id in user_ids:
        event = Envelope.wrap(
            UserDeleted(user_id=user_id, deleted_at="2026-01-01T00:00:00Z"), correlation_id="c"
        )
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"PK": {"S": f"USER#{user_id}"}, "SK": {"S": "PROFILE"}},
                    }
                },
                outbox_put(TABLE, event),
            ]
        )


class RefusingEventBridge:
    def __init__(self, refused_user: str):
        self.refused_user = refused_user
        self.calls = 0

    def put_events(self, Entries):
        self.calls += 1
        results = [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "x"}
            if json.loads(e["Detail"])["data"]["user_id"] == self.refused_user
            else {"EventId": "id"}
            for e in Entries
        ]
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def test_outbox_items_are_written_with_the_change_and_expire(aws):
    write_with_events(["u1"])
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    outbox = [i for i in items if i["PK"]["S"].startswith("OUTBOX#")]
    assert len(outbox) == 1
    assert outbox[0]["detail_type"]["S"] == "UserDeleted"
    assert int(outbox[0]["expires_at"]["N"]) > 0


def test_stream_batch_publishes_only_outbox_inserts(aws):
    write_with_events(["u1", "u2"])
    sent = []

    class Recorder:
        def put_events(self, Entries):
            sent.extend(Entries)
            return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"} for _ in Entries]}

    records = stream_records(TABLE)
    assert len(records) == 4  # two profiles, two outbox items
    response = publish_stream_batch({"Records": records}, EventPublisher(Recorder(), "shop-dev"), "shop-dev")
    assert response == {"batchItemFailures": []}
    assert [json.loads(e["Detail"])["data"]["user_id"] for e in sent] == ["u1", "u2"]
    assert {e["DetailType"] for e in sent} == {"UserDeleted"}


def test_unpublished_events_are_reported_as_batch_item_failures(aws):
    write_with_events(["u1", "u2", "u3"])
    records = stream_records(TABLE)
    client = RefusingEventBridge(refused_user="u2")
    publisher = EventPublisher(client, "shop-dev", max_attempts=2, sleep=lambda s: None)
    response = publish_stream_batch({"Records": records}, publisher, "shop-dev")
    outbox_u2 = next(
        r["dynamodb"]["SequenceNumber"]
        for r in records
        if r["dynamodb"]["Keys"]["PK"]["S"].startswith("OUTBOX#")
        and "u2" in r["dynamodb"]["NewImage"]["detail"]["S"]
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": outbox_u2}]}
    assert client.calls == 2
