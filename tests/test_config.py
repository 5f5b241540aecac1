"""Settings: defaults, the three sources and their precedence, and errors that name the setting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from server.config import ConfigError, Settings, load_settings, setting_names


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kelian.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = load_settings(env={})
    assert s == Settings()
    assert (s.host, s.port, s.demo, s.default_locale) == ("127.0.0.1", 8080, False, "zh_CN")
    assert s.tls_cert is None and s.tls_key is None
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert s.effective_database_url.endswith("/var/kelian.db")
    assert s.effective_library_dir == Path("var") / "library"


def test_every_setting_is_documented() -> None:
    for f in dataclasses.fields(Settings):
        assert f.metadata.get("doc"), f.name


def test_environment(tmp_path: Path) -> None:
    s = load_settings(env={
        "KELIAN_PORT": "9000",
        "KELIAN_HOST": "0.0.0.0",
        "KELIAN_DEMO": "yes",
        "KELIAN_DATA_DIR": str(tmp_path),
        "KELIAN_DEFAULT_LOCALE": "en",
        "KELIAN_LIBRARY_DIR": "/srv/library",
        "KELIAN_UNRELATED_THING": "ignored",
        "PORT": "1",
    })
    assert (s.port, s.host, s.demo, s.default_locale) == (9000, "0.0.0.0", True, "en")
    assert s.data_dir == tmp_path
    assert s.effective_library_dir == Path("/srv/library")
    assert s.effective_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/kelian.db"


def test_toml_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'port = 8443\ndemo = true\nlog_level = "DEBUG"\n'
                                'redis_url = "redis://127.0.0.1:6379/0"\n')
    s = load_settings(env={}, config_file=path)
    assert (s.port, s.demo, s.log_level, s.redis_url) == (8443, True, "DEBUG",
                                                          "redis://127.0.0.1:6379/0")


def test_toml_file_from_environment(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "session_hours = 3\n")
    assert load_settings(env={"KELIAN_CONFIG": str(path)}).session_hours == 3


def test_precedence_overrides_then_env_then_toml(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'port = 1111\nhost = "10.0.0.1"\nsession_hours = 2\n')
    env = {"KELIAN_PORT": "2222", "KELIAN_HOST": "10.0.0.2"}
    s = load_settings(env=env, config_file=path, overrides={"port": 3333, "host": None})
    assert s.port == 3333  # override beats environment
    assert s.host == "10.0.0.2"  # environment beats TOML; a None override means "not given"
    assert s.session_hours == 2  # TOML beats the default


def test_tls_pair(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("y")
    s = load_settings(env={"KELIAN_TLS_CERT": str(cert), "KELIAN_TLS_KEY": str(key)})
    assert (s.tls_cert, s.tls_key) == (cert, key)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KELIAN_PORT": "70000"}, "KELIAN_PORT"),
        ({"KELIAN_PORT": "0"}, "KELIAN_PORT"),
        ({"KELIAN_PORT": "abc"}, "KELIAN_PORT"),
        ({"KELIAN_DEFAULT_LOCALE": "fr"}, "KELIAN_DEFAULT_LOCALE"),
        ({"KELIAN_DATABASE_URL": "mysql://root@localhost/kelian"}, "KELIAN_DATABASE_URL"),
        ({"KELIAN_DATABASE_URL": "postgresql://u@h/db"}, "KELIAN_DATABASE_URL"),
        ({"KELIAN_REDIS_URL": "http://localhost"}, "KELIAN_REDIS_URL"),
        ({"KELIAN_DEMO": "maybe"}, "KELIAN_DEMO"),
        ({"KELIAN_SESSION_HOURS": "0"}, "KELIAN_SESSION_HOURS"),
        ({"KELIAN_LOG_LEVEL": "loud"}, "KELIAN_LOG_LEVEL"),
        ({"KELIAN_TIME_ZONE": "Mars/Olympus"}, "KELIAN_TIME_ZONE"),
        ({"KELIAN_TLS_CERT": "/etc/hostname"}, "KELIAN_TLS_CERT"),
        ({"KELIAN_TLS_CERT": "/nonexistent.pem", "KELIAN_TLS_KEY": "/nonexistent.key"},
         "KELIAN_TLS_CERT"),
    ],
)
def test_bad_environment_names_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env=env)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("colour = 'blue'\n", "colour"),
        ('port = "eighty"\n', "KELIAN_PORT"),
        ("port = 80.5\n", "KELIAN_PORT"),
        ("port = true\n", "KELIAN_PORT"),
        ("port = [", "KELIAN_CONFIG"),
    ],
)
def test_bad_toml_names_the_setting(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env={}, config_file=write_toml(tmp_path, text))


def test_missing_toml_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KELIAN_CONFIG"):
        load_settings(env={"KELIAN_CONFIG": str(tmp_path / "absent.toml")})


def test_overrides_are_converted_and_checked(tmp_path: Path) -> None:
    s = load_settings(env={}, overrides={"data_dir": str(tmp_path), "port": "8081"})
    assert s.data_dir == tmp_path and s.port == 8081
    with pytest.raises(ConfigError, match="KELIAN_PORT"):
        load_settings(env={}, overrides={"port": 0})


def test_setting_names_match_fields() -> None:
    assert setting_names() == [f.name for f in dataclasses.fields(Settings)]
