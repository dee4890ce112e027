"""Import: streaming upsert by id, every bad row reported with file and line, --strict refuses all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from relance.cli import cli
from relance.engine.store.connection import connect
from relance.engine.store.tables import contacts, events, order_items, orders

CONTACTS = """id,email,country,created_at,consent_email,tags,birthdate
ana,ana@example.com,FR,2025-01-02T10:00:00+01:00,true,vip|b2b,1990-05-01
bob,,BE,2025-02-03,no,,
bad1,x@y.z,FR,yesterday,true,,
bad2,x@y.z,FR,2025-01-01,maybe,,
"""
ORDERS = [
    {"id": "o1", "contact_id": "ana", "created_at": "2025-03-01T12:00:00Z", "status": "paid", "currency": "EUR",
     "total": "30.00", "items": [{"sku": "A", "category": "shoes", "quantity": 2, "unit_price": "15.00"}]},
    {"id": "o2", "contact_id": "bob", "created_at": "2025-04-01", "status": "paid", "currency": "EUR", "total": 12.5},
    {"id": "o3", "contact_id": "bob", "created_at": "2025-04-01", "status": "paid", "currency": "EUX", "total": "1"},
]


def write(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "contacts.csv").write_text(CONTACTS)
    lines = [json.dumps(o) for o in ORDERS] + ["{not json"]
    (tmp_path / "orders.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "events.csv").write_text("contact_id,type,at\nana,email_opened,2025-05-01T08:00:00Z\n")
    return {"contacts": tmp_path / "contacts.csv", "orders": tmp_path / "orders.jsonl", "events": tmp_path / "events.csv"}


def counts(url: str) -> dict[str, int]:
    engine = connect(url)
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (contacts, orders, order_items, events)}


def run(*args: Any) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_bad_rows_are_reported_with_file_and_line_and_good_rows_imported(tmp_path: Path) -> None:
    files = write(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = run("import", "--store", url, "--contacts", files["contacts"], "--orders", files["orders"],
                 "--events", files["events"])
    assert result.exit_code == 1
    out = result.output
    assert f"{files['contacts']}:4: contact.created_at" in out
    assert f"{files['contacts']}:5: contact: expected true or false, got 'maybe'" in out
    assert f"{files['orders']}:2: order.total" in out  # a float amount
    assert f"{files['orders']}:3: order.currency" in out
    assert f"{files['orders']}:4: invalid JSON" in out
    assert "imported 2 contacts, 1 orders, 1 events; 5 bad rows skipped" in out
    assert counts(url) == {"contacts": 2, "orders": 1, "order_items": 1, "events": 1}


def test_importing_twice_changes_nothing(tmp_path: Path) -> None:
    files = write(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    args = ("import", "--store", url, "--contacts", files["contacts"], "--orders", files["orders"],
            "--events", files["events"])
    run(*args)
    engine = connect(url)
    with engine.connect() as conn:
        first = [conn.execute(select(t)).all() for t in (contacts, orders, order_items, events)]
    run(*args)
    with engine.connect() as conn:
        assert [conn.execute(select(t)).all() for t in (contacts, orders, order_items, events)] == first


def test_strict_refuses_the_whole_import(tmp_path: Path) -> None:
    files = write(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = run("import", "--store", url, "--contacts", files["contacts"], "--strict")
    assert result.exit_code == 1 and "contacts.csv:4" in result.output and "nothing was written" in result.output
    assert counts(url)["contacts"] == 0


def test_a_changed_row_is_updated_by_id(tmp_path: Path) -> None:
    files = write(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    run("import", "--store", url, "--contacts", files["contacts"])
    files["contacts"].write_text("id,email,created_at\nana,new@example.com,2025-01-02\n")
    run("import", "--store", url, "--contacts", files["contacts"])
    with connect(url).connect() as conn:
        assert conn.execute(select(contacts.c.email).where(contacts.c.id == "ana")).scalar_one() == "new@example.com"
        assert conn.execute(select(func.count()).select_from(contacts)).scalar_one() == 2


def test_import_into_postgresql(tmp_path: Path, pg_url: str) -> None:
    files = write(tmp_path)
    result = run("import", "--store", pg_url, "--contacts", files["contacts"], "--orders", files["orders"])
    assert result.exit_code == 1
    again = run("import", "--store", pg_url, "--contacts", files["contacts"], "--orders", files["orders"])
    assert again.exit_code == 1
    assert counts(pg_url)["contacts"] >= 2 and counts(pg_url)["order_items"] >= 1


@pytest.mark.parametrize("header", ["id,created_at,shoe_size", "contact_id,created_at,shoe_size"])
def test_unknown_columns_are_named_once(tmp_path: Path, header: str) -> None:
    (tmp_path / "c.csv").write_text(f"{header}\na,2025-01-01,42\nb,2025-01-01,43\n")
    result = run("import", "--store", f"sqlite:///{tmp_path / 's.db'}", "--contacts", tmp_path / "c.csv")
    assert result.exit_code == 0
    assert result.output.count("ignored column(s) shoe_size") == 1


def test_csv_cells_of_bool_and_list_attributes(tmp_path: Path) -> None:
    """A CSV cell is text: `true` and `a|b` are read as the declared bool and list, as the
    consents and tags columns are."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "relance.yaml").write_text("currency: EUR\nattributes:\n  vip: bool\n  sizes: list of number\n")
    (tmp_path / "rules" / "s.rules").write_text("segment vips:\n    contact.vip and 42.5 in contact.sizes\n")
    (tmp_path / "contacts.csv").write_text("id,created_at,vip,sizes\nc1,2024-01-01T10:00:00Z,true,41|42.5\n"
                                           "c2,2024-01-01T10:00:00Z,no,\n")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = run("import", "--store", url, "--contacts", tmp_path / "contacts.csv", "--rules", tmp_path / "rules")
    assert result.exit_code == 0, result.output
    with connect(url).connect() as conn:
        stored = dict(conn.execute(select(contacts.c.id, contacts.c.attributes)).all())
    assert stored == {"c1": {"vip": True, "sizes": [41, 42.5]}, "c2": {"vip": False, "sizes": None}}  # a blank cell: none
