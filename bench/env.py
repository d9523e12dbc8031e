"""The environment of a benchmark run: settings, database and Django set-up."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

DEFAULTS = {
    "DJANGO_SETTINGS_MODULE": "reflexio_admin.settings",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/reflexio_bench",
    "REDIS_URL": "redis://127.0.0.1:6379/11",
    "SECRET_KEY": "bench-secret-not-for-production",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_COOKIES": "0",
    "SECURE_HSTS_SECONDS": "0",
    "QUEUE_BACKEND": "rq",
    "LOG_LEVEL": "WARNING",
}


def apply_defaults() -> None:
    """Fill in every variable the caller did not set."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    # The bench process itself never calls a model: what it renders must not
    # need one, and the rerun's worker gets its own key and base URL.
    os.environ.pop("OPENAI_API_KEY", None)


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def ensure_database(url: str) -> bool:
    """Create the database `url` names when it is missing; True if created."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = database_name(url)
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if found:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def setup_django() -> None:
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
