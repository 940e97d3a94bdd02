"""``portalkit db``: create, upgrade and downgrade the database schema; prune what has
outlived its retention period."""

from __future__ import annotations

import click

from portalkit.cli._app import Runtime, examples, json_option, operator_options, pass_runtime

__all__ = ["db"]


@click.group(
    epilog=examples(
        "portalkit db upgrade",
        "portalkit db upgrade --url postgresql://portal@db.internal/portal",
    )
)
def db() -> None:
    """Create and upgrade the database schema.

    SQLite is upgraded when the portal starts; PostgreSQL is not: run 'portalkit db upgrade'
    once per deployment, before the new version serves requests.
    """


@db.command(
    epilog=examples(
        "portalkit db upgrade                      # the database in PORTALKIT_DATABASE_URL",
        "portalkit db upgrade --url sqlite:////var/lib/portal/portal.db",
        'portalkit db upgrade --json               # {"database": "...", "schema": "up to date"}',
    )
)
@click.option(
    "--url",
    metavar="URL",
    help="Database URL, instead of PORTALKIT_DATABASE_URL; "
    "e.g. --url postgresql://portal@db.internal/portal.",
)
@json_option
@pass_runtime
def upgrade(runtime: Runtime, url: str | None) -> None:
    """Create or upgrade the schema to this version of portalkit.

    An empty database gets the whole schema, an older one is upgraded, a current one is left
    as it is: safe to run on every deployment. Prints which database is up to date (its
    password hidden).
    """
    settings = runtime.settings(database_url=url or None)
    from portalkit.storage.sqlalchemy import SqlStorage

    storage = SqlStorage.from_settings(settings)
    try:
        storage.upgrade_schema()
    finally:
        storage.close()
    database = storage.engine.url.render_as_string()
    runtime.out.result(
        {"database": database, "schema": "up to date"},
        line=f"portalkit: schema of {database} is up to date",
    )


@db.command(
    epilog=examples(
        "portalkit db downgrade 0007 --yes         # undo the newest migration",
        "portalkit db downgrade base --yes         # drop every table of portalkit's",
    )
)
@click.argument("revision")
@click.option(
    "--url",
    metavar="URL",
    help="Database URL, instead of PORTALKIT_DATABASE_URL; "
    "e.g. --url postgresql://portal@db.internal/portal.",
)
@click.option(
    "--yes",
    is_flag=True,
    help="Confirm that what is undone loses its data; e.g. portalkit db downgrade base --yes.",
)
@json_option
@pass_runtime
def downgrade(runtime: Runtime, revision: str, url: str | None, yes: bool) -> None:
    """Undo portalkit's migrations down to REVISION ('base': all of them).

    Only portalkit's tables (under PORTALKIT_TABLE_PREFIX) and its own version table are
    touched; a host application's tables and migrations beside them stay as they are.
    """
    if not yes:
        raise click.UsageError("downgrading loses the data of what it undoes; add --yes")
    settings = runtime.settings(database_url=url or None)
    from portalkit.storage.sqlalchemy import SqlStorage

    storage = SqlStorage.from_settings(settings)
    try:
        storage.downgrade_schema(revision)
    finally:
        storage.close()
    database = storage.engine.url.render_as_string()
    runtime.out.result(
        {"database": database, "schema": revision},
        line=f"portalkit: schema of {database} is at {revision}",
    )


@db.command(
    epilog=examples(
        "portalkit db prune --operator jdoe              # after the retention periods",
        "portalkit db prune --dry-run --operator jdoe    # only count what would go",
        'portalkit db prune --json --operator jdoe       # {"tokens": 3, "throttles": 12, ...}',
    )
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Count what would be removed and remove nothing; e.g. portalkit db prune --dry-run.",
)
@operator_options()
@json_option
@pass_runtime
def prune(runtime: Runtime, dry_run: bool) -> None:
    """Remove what has outlived its retention period, in one vendor.

    Dead one-time links (used, revoked or expired more than PORTALKIT_RETENTION_TOKEN_DAYS
    ago) and single sign-ins begun that expired as long ago, failed-login counters older than PORTALKIT_RETENTION_THROTTLE_DAYS (of every
    vendor: they carry none), and the bodies of mail delivered or given up more than
    PORTALKIT_RETENTION_OUTBOX_DAYS ago, and sessions ended or unused for more than
    PORTALKIT_RETENTION_SESSION_DAYS. Links that still work and mail still to send are
    kept. Run it daily, say from cron; the audit log records each run.
    """
    report = runtime.portal.retention.prune(runtime.operator(), dry_run=dry_run)
    result = {
        "tokens": report.tokens,
        "throttles": report.throttles,
        "outbox": report.outbox,
        "sso_attempts": report.sso_attempts,
        "sessions": report.sessions,
        "dry_run": report.dry_run,
    }
    verb = "would remove" if dry_run else "removed"
    runtime.out.result(
        result,
        line=f"{verb} {report.tokens} dead links, {report.throttles} old failed-login "
        f"counters, {report.outbox} delivered mail bodies, {report.sso_attempts} old "
        f"single sign-ins and {report.sessions} ended sessions",
    )
