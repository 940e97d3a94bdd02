"""Settings come from PORTALKIT_* variables or .env; a wrong value names its variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from portalkit import ConfigurationError, Portal, PortalSettings, load_settings
from portalkit.storage.memory import MemoryStorage


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PORTALKIT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env, and portalkit.db lands in the temp dir


def test_defaults_are_an_embedded_sqlite_portal() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///portalkit.db"
    assert settings.storage == "sqlalchemy"
    assert settings.default_language == "en"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTALKIT_DATABASE_URL", "sqlite:///other.db")
    monkeypatch.setenv("PORTALKIT_DEFAULT_LANGUAGE", "nl")
    settings = load_settings()
    assert settings.database_url == "sqlite:///other.db"
    assert settings.default_language == "nl"


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORTALKIT_DEFAULT_VENDOR=acme-logistics\n", encoding="utf-8")
    assert load_settings().default_vendor == "acme-logistics"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORTALKIT_DEFAULT_LANGUAGE", "fr"),
        ("PORTALKIT_AUTO_MIGRATE", "perhaps"),
        ("PORTALKIT_DEFAULT_VENDOR", "two words"),
        ("PORTALKIT_SQL_ECHO", "loud"),
    ],
)
def test_a_wrong_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        load_settings()


def test_an_unknown_storage_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTALKIT_STORAGE", "nowhere.Storage")
    with pytest.raises(ConfigurationError, match="PORTALKIT_STORAGE"):
        Portal.from_settings()


def test_a_bad_database_url_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTALKIT_DATABASE_URL", "not a url")
    with pytest.raises(ConfigurationError, match="PORTALKIT_DATABASE_URL"):
        Portal.from_settings()
    monkeypatch.setenv("PORTALKIT_DATABASE_URL", "mysql://x@localhost/db")
    with pytest.raises(ConfigurationError, match="not supported"):
        Portal.from_settings()


def test_from_settings_builds_sqlite_and_creates_its_schema(tmp_path: Path) -> None:
    portal = Portal.from_settings()
    try:
        vendor = portal.default_vendor()
        assert portal.default_vendor() == vendor  # found, not created twice
        assert vendor.code == "default"
    finally:
        portal.close()
    assert (tmp_path / "portalkit.db").exists()


def test_storage_by_short_name_and_by_dotted_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTALKIT_STORAGE", "memory")
    assert isinstance(Portal.from_settings().storage, MemoryStorage)
    monkeypatch.setenv("PORTALKIT_STORAGE", "portalkit.storage.memory.MemoryStorage")
    assert isinstance(Portal.from_settings().storage, MemoryStorage)


def test_explicit_settings_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTALKIT_STORAGE", "nowhere.Storage")
    portal = Portal.from_settings(PortalSettings(storage="memory"))
    assert isinstance(portal.storage, MemoryStorage)


def test_postgres_without_its_extra_says_what_to_install(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from portalkit import ImproperlyInstalled\n"
        "from portalkit.storage.sqlalchemy import SqlStorage\n"
        "try:\n"
        "    SqlStorage('postgresql://portal@127.0.0.1:1/portal')\n"
        "except ImproperlyInstalled as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert 'pip install "portalkit[postgres]"' in out.stdout, out.stderr


def test_overrides_apply_on_top_of_given_settings() -> None:
    portal = Portal.from_settings(PortalSettings(storage="memory"), default_language="de")
    assert isinstance(portal.storage, MemoryStorage)
    assert portal.settings.default_language == "de"
