"""DATABASES for the deploy: the project's own entry, connected where the release env file says.

Written by `onehost init`. The deploy gives the connection (DATABASE_URL, or the DB_* variables);
everything else the project set on its default database stays: ATOMIC_REQUESTS, CONN_MAX_AGE,
CONN_HEALTH_CHECKS, TIME_ZONE, TEST, and OPTIONS when the engine stays PostgreSQL.
"""

# Where the database is; every other key of the entry says how the project uses it.
CONNECTION_KEYS = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")


def is_postgresql(engine: str) -> bool:
    """Django's PostgreSQL backend, or one built on it (PostGIS, django-tenants' and the like)."""
    return "postgresql" in engine or "postgis" in engine


def with_connection(databases: dict, connection: dict) -> dict:
    """DATABASES with the default entry's connection from `connection` and the rest kept.

    The project's ENGINE stays when it is PostgreSQL already (PostGIS keeps its backend). Its
    OPTIONS are kept (over the connection's) only then: another engine's options (SQLite's
    `timeout`, `init_command`) mean nothing to PostgreSQL and it refuses them.
    """
    own = dict(databases.get("default", {}))
    entry = dict(connection)
    if is_postgresql(own.get("ENGINE", "")):
        entry["ENGINE"] = own["ENGINE"]
        entry["OPTIONS"] = {**connection.get("OPTIONS", {}), **own.get("OPTIONS", {})}
    for key, value in own.items():
        if key not in CONNECTION_KEYS and key != "OPTIONS":
            entry[key] = value
    return {**databases, "default": entry}
