"""Bringing a store's schema to the packaged migrations, or checking it is there, as the settings say.

With ``store_maintenance`` on (the default, and the embedded store's only way) a process migrates the store itself.
Off (workers next to a ClickHouse server, where one Job migrates and one CronJob purges), it applies nothing and
refuses to start on a schema that is behind the migrations it was built with.
"""

from __future__ import annotations

from streams.config.settings import Settings
from streams.errors import ConfigError
from streams.store.clickhouse import Store, check_schema_mode, migrate, pending_migrations, schema_mode

__all__ = ["prepare_schema", "prepared_store"]


def prepare_schema(store: Store, settings: Settings) -> list[str]:
    """Migrate ``store`` (the names applied), or with ``store_maintenance`` off check it is fully migrated in the
    configured mode ([]); ConfigError, in one sentence, when it is not."""
    if settings.store_maintenance:
        return migrate(store, settings.aggregate_ttl_days, settings.clickhouse_cluster)
    missing = pending_migrations(store)
    if missing:
        raise ConfigError(
            f"the store's schema is not at the expected migration ({len(missing)} not applied, first {missing[0]}) and "
            "store_maintenance is off: run `platestream migrate` (the chart's migrate Job) first"
        )
    if schema_mode(store) != ("cluster" if settings.clickhouse_cluster else "single"):
        check_schema_mode(store, settings.clickhouse_cluster)
    return []


def prepared_store(store: Store, settings: Settings) -> Store:
    """``store`` after ``prepare_schema``; closed when refused, so a process that does not start leaves no embedded
    session open behind the error."""
    try:
        prepare_schema(store, settings)
    except BaseException:
        store.close()
        raise
    return store
