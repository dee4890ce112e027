"""Shared fixtures: a small rule set with custom attributes, and a throwaway PostgreSQL database."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import relance

PG_ADMIN_URL = os.environ.get("RELANCE_TEST_PG", "postgresql+psycopg://root@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def paris_rules(tmp_path_factory: pytest.TempPathFactory) -> relance.RuleSet:
    """A rule set in Europe/Paris (DST!) with two custom attributes, for property tests."""
    root = tmp_path_factory.mktemp("rules")
    (root / "relance.yaml").write_text(
        "relance: 1\ncurrency: EUR\ntimezone: Europe/Paris\nattributes:\n  skin_type: string\n  score: number\n")
    (root / "base.rules").write_text(
        'segment buyers "Buyers":\n    count(orders where status == "paid") >= 1\n\n'
        'segment french_buyers:\n    contact in segment buyers and contact.country == "FR"\n')
    return relance.load(root)


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=root dbname=postgres", connect_timeout=2):
            return True
    except Exception:  # noqa: BLE001 - any failure means "no server here"
        return False


PG_AVAILABLE = _pg_available()


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database (created, then dropped): tests never share data."""
    if not PG_AVAILABLE:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests, but no server answers on 127.0.0.1:5432")
        pytest.skip(reason="no PostgreSQL server on 127.0.0.1:5432")
    import psycopg

    name = f"relance_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=root dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://root@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 user=root dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test."""
    with pg_database() as url:
        yield url


EXAMPLES = Path(__file__).resolve().parent.parent / "rules" / "examples"
