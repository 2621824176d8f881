import pytest
from pydantic import ValidationError

from shared.settings import Settings


class ExampleSettings(Settings):
    table_name: str
    batch_size: int = 10


def test_settings_are_read_from_the_environment_once(monkeypatch):
    ExampleSettings.reset()
    monkeypatch.setenv("TABLE_NAME", "orders")
    monkeypatch.setenv("BATCH_SIZE", "25")
    first = ExampleSettings.load()
    monkeypatch.setenv("TABLE_NAME", "changed")
    assert ExampleSettings.load() is first
    assert (first.table_name, first.batch_size) == ("orders", 25)
    ExampleSettings.reset()


def test_missing_or_invalid_settings_fail_at_load(monkeypatch):
    ExampleSettings.reset()
    monkeypatch.delenv("TABLE_NAME", raising=False)
    with pytest.raises(ValidationError, match="table_name"):
        ExampleSettings.load()
    monkeypatch.setenv("TABLE_NAME", "t")
    monkeypatch.setenv("BATCH_SIZE", "many")
    with pytest.raises(ValidationError, match="batch_size"):
        ExampleSettings.load()
    ExampleSettings.reset()
