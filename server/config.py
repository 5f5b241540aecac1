"""Settings: one typed object, read once at start from KELIAN_* variables and an optional TOML file.

Precedence: explicit overrides (command-line flags) > environment > TOML file > defaults.
Nothing reads the environment after `load_settings` returns.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "KELIAN_"
REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the setting."""


@dataclass(frozen=True)
class Settings:
    # Where the service listens.
    host: str = field(default="127.0.0.1", metadata={"doc": "Address to listen on."})
    port: int = field(default=8080, metadata={"doc": "TCP port to listen on."})
    # Storage.
    data_dir: Path = field(
        default=Path("var"), metadata={"doc": "Folder for the embedded database and local state."}
    )
    database_url: str = field(
        default="",
        metadata={
            "doc": "SQLAlchemy URL. Empty means SQLite at DATA_DIR/kelian.db. "
            "PostgreSQL: postgresql+asyncpg://user@host:5432/db"
        },
    )
    library_dir: Path = field(
        default=Path(""),
        metadata={"doc": "Folder of the lesson library. Empty means DATA_DIR/library."},
    )
    redis_url: str = field(
        default="", metadata={"doc": "Redis URL for multi-node state; empty runs in-process."}
    )
    redis_prefix: str = field(
        default="kelian:", metadata={"doc": "Prefix of Kelian's Redis keys and channels."}
    )
    node_host: str = field(
        default="", metadata={"doc": "Address the other nodes reach this one at; empty: HOST, "
                                     "or the machine's name when HOST is a wildcard."}
    )
    node_heartbeat_s: int = field(
        default=2, metadata={"doc": "How often a node writes its heartbeat to Redis, in seconds."}
    )
    node_ttl_s: int = field(
        default=6, metadata={"doc": "A node whose heartbeat is older is dead: its Rooms move."}
    )
    room_max_receivers: int = field(
        default=150, metadata={"doc": "Receivers of a broadcast one node serves before others "
                                      "pull the lesson from it (the cascade)."}
    )
    max_upload_mb: int = field(
        default=4096, metadata={"doc": "Largest video file a teacher may upload to the library, in MiB."}
    )
    # Web.
    public_url: str = field(
        default="", metadata={"doc": "Public base URL when behind a proxy (e.g. https://kelian.example)."}
    )
    tls_cert: Path | None = field(default=None, metadata={"doc": "PEM certificate to serve HTTPS."})
    tls_key: Path | None = field(default=None, metadata={"doc": "PEM private key for TLS_CERT."})
    default_locale: str = field(
        default="zh_CN", metadata={"doc": "UI language when the user has not chosen: zh_CN or en."}
    )
    time_zone: str = field(
        default="Asia/Shanghai", metadata={"doc": "Default time zone for new schools."}
    )
    session_hours: int = field(default=12, metadata={"doc": "Sign-in session lifetime in hours."})
    max_body_kb: int = field(
        default=256, metadata={"doc": "Largest accepted request body for pages and API, in KiB."}
    )
    login_attempts: int = field(
        default=5, metadata={"doc": "Failed sign-ins allowed per account and address per window."}
    )
    login_window_s: int = field(
        default=300, metadata={"doc": "Window of the sign-in throttle, in seconds."}
    )
    demo: bool = field(
        default=False, metadata={"doc": "Load demo data on first start (empty database)."}
    )
    log_level: str = field(default="INFO", metadata={"doc": "DEBUG, INFO, WARNING or ERROR."})
    log_format: str = field(
        default="text",
        metadata={"doc": "text (one readable line per record) or json (one JSON object per "
                         "line, with context fields and an access line per request)."},
    )
    rtmp_port: int = field(
        default=1935,
        metadata={"doc": "TCP port where encoders push RTMP (`rtmp://host:PORT/live/<stream "
                         "key>`), on `host`; 0 turns RTMP off."},
    )
    # Background jobs (transcoding).
    jobs_in_process: bool = field(
        default=True,
        metadata={"doc": "Run background jobs inside `kelian serve`; false leaves them to `kelian worker`."},
    )
    jobs_concurrency: int = field(
        default=1, metadata={"doc": "Jobs one process runs at once (serve's runner, each worker)."}
    )
    # The lesson lifecycle (server/lifecycle).
    scheduler: bool = field(
        default=True,
        metadata={"doc": "Open, record, warn and end lessons by the clock inside `kelian serve`, "
                         "and generate the timetable's lessons."},
    )
    scheduler_interval_s: int = field(
        default=5, metadata={"doc": "How often the scheduler looks at the lessons, in seconds."}
    )
    timetable_days: int = field(
        default=14, metadata={"doc": "How many days ahead the timetable's lessons are generated."}
    )
    lesson_open_early_min: int = field(
        default=5,
        metadata={"doc": "Minutes before its planned start a timetabled lesson goes live, so "
                         "classroom terminals join before the teacher begins."},
    )
    lesson_warn_min: int = field(
        default=5, metadata={"doc": "Minutes before a lesson's planned end its teacher is warned."}
    )
    lesson_grace_min: int = field(
        default=5,
        metadata={"doc": "Minutes after the planned end a lesson ends by itself, unless its "
                         "teacher is still teaching."},
    )
    lesson_max_overrun_min: int = field(
        default=20,
        metadata={"doc": "Minutes after the planned end a lesson ends even while its teacher "
                         "is still teaching."},
    )
    join_alarm_min: int = field(
        default=3,
        metadata={"doc": "Minutes after a lesson went live (from its planned start at the "
                         "earliest) a linked classroom that has not joined counts as failed "
                         "to join: its teacher is told and its school sees it."},
    )
    link_sample_s: int = field(
        default=5,
        metadata={"doc": "How often each participant's link quality is sampled, in seconds."},
    )
    # ICE for browsers behind school firewalls (server/live/ice.py); the relay needs none.
    stun_urls: str = field(
        default="", metadata={"doc": "Comma-separated stun: URLs the pages use for ICE."}
    )
    turn_urls: str = field(
        default="",
        metadata={"doc": "Comma-separated turn:/turns: URLs (e.g. turns:turn.example:443"
                         "?transport=tcp) the pages use, with short-lived credentials."},
    )
    turn_secret: str = field(
        default="",
        metadata={"doc": "The TURN server's shared secret (coturn's static-auth-secret); "
                         "required with TURN_URLS."},
    )
    turn_ttl_s: int = field(
        default=3600, metadata={"doc": "Lifetime of a participant's TURN credentials, in seconds."}
    )
    ice_relay_only: bool = field(
        default=False,
        metadata={"doc": "Pages send media only through TURN (iceTransportPolicy relay); "
                         "needs TURN_URLS."},
    )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'kelian.db').resolve()}"

    @property
    def effective_library_dir(self) -> Path:
        return self.library_dir if str(self.library_dir) not in ("", ".") else self.data_dir / "library"

    @property
    def web_dir(self) -> Path:
        return REPO_ROOT / "web"


_LOCALES = ("zh_CN", "en")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_LOG_FORMATS = ("text", "json")
_ICE_URL = re.compile(
    r"^(?P<scheme>stuns?|turns?):(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:(?P<port>\d{1,5}))?"
    r"(\?transport=(?P<transport>udp|tcp))?$"
)


def setting_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings)]


def _convert(name: str, raw: Any, hint: Any) -> Any:
    """Turn a raw value (env string or TOML value) into the field's type, or raise ConfigError."""
    label = f"{ENV_PREFIX}{name.upper()}"
    text = str(raw).strip() if not isinstance(raw, bool | int) else raw
    try:
        if hint is bool:
            if isinstance(raw, bool):
                return raw
            lowered = str(text).lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError("expected true or false")
        if hint is int:
            if isinstance(raw, bool):
                raise ValueError("expected an integer")
            return int(text)
        if hint is Path:
            return Path(str(text))
        if hint == (Path | None):
            return Path(str(text)) if str(text) else None
        return str(text)
    except ValueError as exc:
        raise ConfigError(f"setting {label} = {raw!r} is invalid: {exc}") from None


def _validate(s: Settings) -> None:
    def bad(name: str, why: str) -> ConfigError:
        return ConfigError(f"setting {ENV_PREFIX}{name.upper()} is invalid: {why}")

    if not 0 < s.port < 65536:
        raise bad("port", f"{s.port} is not a TCP port (1-65535)")
    if s.default_locale not in _LOCALES:
        raise bad("default_locale", f"{s.default_locale!r}; use one of {', '.join(_LOCALES)}")
    if s.log_level.upper() not in _LOG_LEVELS:
        raise bad("log_level", f"{s.log_level!r}; use one of {', '.join(_LOG_LEVELS)}")
    if s.log_format not in _LOG_FORMATS:
        raise bad("log_format", f"{s.log_format!r}; use one of {', '.join(_LOG_FORMATS)}")
    if s.session_hours < 1:
        raise bad("session_hours", "must be at least 1")
    if s.max_body_kb < 1:
        raise bad("max_body_kb", "must be at least 1")
    if s.max_upload_mb < 1:
        raise bad("max_upload_mb", "must be at least 1")
    if s.jobs_concurrency < 1:
        raise bad("jobs_concurrency", "must be at least 1")
    if s.scheduler_interval_s < 1:
        raise bad("scheduler_interval_s", "must be at least 1")
    if not 0 <= s.rtmp_port <= 65535:
        raise bad("rtmp_port", "must be a TCP port (1-65535), or 0 for no RTMP")
    if s.link_sample_s < 1:
        raise bad("link_sample_s", "must be at least 1")
    if s.join_alarm_min < 1:
        raise bad("join_alarm_min", "must be at least 1")
    if s.timetable_days < 1:
        raise bad("timetable_days", "must be at least 1")
    for name in ("lesson_open_early_min", "lesson_warn_min", "lesson_grace_min"):
        if getattr(s, name) < 0:
            raise bad(name, "must be 0 or more")
    if s.lesson_max_overrun_min < s.lesson_grace_min:
        raise bad("lesson_max_overrun_min", "must be at least LESSON_GRACE_MIN")
    if s.login_attempts < 1 or s.login_window_s < 1:
        raise bad("login_attempts", "attempts and window must be positive")
    if s.database_url and not s.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise bad(
            "database_url",
            "use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
        )
    if s.redis_url and not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise bad("redis_url", "use redis://host:port/db")
    if (s.tls_cert is None) != (s.tls_key is None):
        raise bad("tls_cert", "TLS_CERT and TLS_KEY must be given together")
    for name in ("tls_cert", "tls_key"):
        path = getattr(s, name)
        if path is not None and not path.is_file():
            raise bad(name, f"file {path} does not exist")
    _validate_ice(s, bad)
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(s.time_zone)
    except Exception:
        raise bad("time_zone", f"{s.time_zone!r} is not an IANA time zone") from None


def ice_urls(text: str) -> list[str]:
    """The URLs of a comma-separated STUN_URLS or TURN_URLS setting."""
    return [url.strip() for url in text.split(",") if url.strip()]


def _validate_ice(s: Settings, bad: Callable[[str, str], ConfigError]) -> None:
    # RFC 7064/7065 URIs: scheme, host, optional port and ?transport=udp|tcp.
    for name, schemes in (("stun_urls", ("stun",)), ("turn_urls", ("turn", "turns"))):
        for url in ice_urls(getattr(s, name)):
            match = _ICE_URL.match(url)
            if match is None or match["scheme"] not in schemes:
                raise bad(name, f"{url!r} is not a {' or '.join(f'{x}:' for x in schemes)} URL "
                                f"(e.g. {schemes[-1]}:host.example:3478)")
            if match["port"] and not 0 < int(match["port"]) < 65536:
                raise bad(name, f"{url!r}: {match['port']} is not a port (1-65535)")
            if match["transport"] and name == "stun_urls":
                raise bad(name, f"{url!r}: a stun: URL takes no ?transport")
    if s.turn_urls.strip() and not s.turn_secret:
        raise bad("turn_secret", "TURN_URLS needs the TURN server's shared secret")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", s.redis_prefix):
        raise bad("redis_prefix", "use up to 64 letters, digits and _ . : -")
    if s.room_max_receivers < 1:
        raise bad("room_max_receivers", "must be at least 1")
    if s.node_heartbeat_s < 1:
        raise bad("node_heartbeat_s", "must be at least 1")
    if s.node_ttl_s < 2 * s.node_heartbeat_s:
        raise bad("node_ttl_s", "must be at least twice NODE_HEARTBEAT_S")
    if s.turn_ttl_s < 60:
        raise bad("turn_ttl_s", "must be at least 60")
    if s.ice_relay_only and not s.turn_urls.strip():
        raise bad("ice_relay_only", "relay-only ICE needs TURN_URLS")


def load_settings(
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from a TOML file, the environment and overrides; raise ConfigError when bad."""
    env = os.environ if env is None else env
    hints = get_type_hints(Settings)
    names = set(setting_names())
    values: dict[str, Any] = {}

    path = config_file or (Path(env[f"{ENV_PREFIX}CONFIG"]) if env.get(f"{ENV_PREFIX}CONFIG") else None)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"setting {ENV_PREFIX}CONFIG: file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"setting {ENV_PREFIX}CONFIG: {path} is not valid TOML: {exc}") from None
        for key, raw in data.items():
            if key not in names:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _convert(key, raw, hints[key])

    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key == f"{ENV_PREFIX}CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in names:
            values[name] = _convert(name, raw, hints[name])

    for key, raw in (overrides or {}).items():
        if raw is not None:
            values[key] = _convert(key, raw, hints[key])

    settings = Settings(**values)
    _validate(settings)
    return settings
