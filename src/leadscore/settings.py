"""Where leadscore finds its store, model and sources, and how the daemon behaves.

One env prefix (``LEADSCORE_``), an optional ``.env``, and a secrets directory
(``/run/secrets`` when it exists). Sources live in a YAML file; a source's
token comes from ``token``, ``token_env`` (a variable's name), ``token_file``,
or the secrets directory (``<secrets>/<source name>_token``). Secrets are
SecretStr, so they never print; a bad setting names its variable and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadscore.errors import ConfigError
from leadscore.packaged import default_model
from leadscore.people import PeopleScope
from leadscore.rescore import Parallelism
from leadscore.sources import SECRETS_DIR, SourceSettings

ENV_PREFIX = "LEADSCORE_"


class Settings(BaseSettings):
    """LEADSCORE_* environment variables, an optional .env, and the secrets directory."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        secrets_dir=str(SECRETS_DIR) if SECRETS_DIR.is_dir() else None,
    )

    state_url: str = Field("sqlite:///leadscore.db", description="store: a SQLite file or postgresql://user@host/db")
    model: Path = Field(
        default_factory=default_model,
        description="the scoring model file (default: config/scoring.yaml here, else the one shipped)",
    )
    sources_file: Path = Field(Path("config/sources.yaml"), description="the sources file")
    http_host: str = Field("127.0.0.1", description="address of /healthz, /readyz, /metrics (0.0.0.0 in a container)")
    http_port: int = Field(9464, ge=0, le=65535, description="port of /healthz, /readyz, /metrics (0: any free)")
    log_format: Literal["auto", "json", "text"] = Field("auto", description="json, text, or auto (json unless a tty)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    log_emails: bool = Field(False, description="let email addresses appear in logs")
    history_days: int = Field(400, ge=1, description="days of score history kept per record")
    console: bool = Field(False, description="serve the console under / on the HTTP port (it needs a login)")
    reports_dir: Path | None = Field(None, description="a folder of plan and backtest reports the console lists")
    console_token: SecretStr | None = Field(
        None, description="the console's login token (else the file console_token in the secrets directory)"
    )
    full_rescore_seconds: int = Field(86_400, ge=60, description="how often a cycle rescores everyone (decay)")
    misfire_grace_seconds: int = Field(3_600, ge=1, description="how late a missed run may still start (paused host)")
    shutdown_grace_seconds: float = Field(30, gt=0, description="how long SIGTERM waits for the cycle in flight")
    ready_failed_cycles: int = Field(3, ge=1, description="failed cycles in a row after which /readyz says 503")
    scoring_workers: int = Field(0, ge=0, description="processes that score a large rescore (0: one per core, max 4)")
    parallel_min_contacts: int = Field(50_000, ge=1, description="contacts to rescore before workers are started")

    def resolved_console_token(self) -> str:
        """The console's token; a ConfigError says where to put one when there is none."""
        if self.console_token is not None and self.console_token.get_secret_value():
            return self.console_token.get_secret_value()
        path = SECRETS_DIR / "console_token"
        if path.is_file() and path.read_text(encoding="utf-8").strip():
            return path.read_text(encoding="utf-8").strip()
        raise ConfigError(
            f"the console needs a login token: set {ENV_PREFIX}CONSOLE_TOKEN, or write it to {path} "
            "(a long random string; users type it at the console's login)"
        )

    def parallelism(self) -> Parallelism:
        return Parallelism.auto(self.scoring_workers, self.parallel_min_contacts)


def load_settings() -> Settings:
    """Settings from the environment, or a ConfigError naming each bad variable and what it should hold."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            described = Settings.model_fields.get(field)
            hint = f" ({described.description})" if described and described.description else ""
            lines.append(f"{ENV_PREFIX}{field.upper()}: {error['msg']}{hint}")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None


def load_sources(path: Path) -> list[SourceSettings]:
    if not path.is_file():
        raise ConfigError(
            f"{path}: sources file not found ({ENV_PREFIX}SOURCES_FILE); copy config/sources.example.yaml "
            "and fill it in"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    raw_sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(raw_sources, list) or not raw_sources:
        raise ConfigError(f"{path}: expected a 'sources:' list with at least one source")
    from leadscore.platforms import platform

    sources = []
    for position, raw in enumerate(raw_sources):
        if not isinstance(raw, dict) or not isinstance(raw.get("platform"), str):
            raise ConfigError(f"{path}: sources[{position}].platform: each source needs a platform")
        try:
            model = platform(raw["platform"]).settings
        except ConfigError as exc:
            raise ConfigError(f"{path}: sources[{position}].platform: {exc}") from None
        try:
            sources.append(model.model_validate(raw))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{path}: sources[{position}]: {problems}") from None
    names = [s.name for s in sources]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise ConfigError(f"{path}: source names must be unique; repeated: {', '.join(sorted(duplicated))}")
    return sources


def load_people_scope(path: Path, sources: Sequence[SourceSettings]) -> PeopleScope | None:
    """The sources file's people group, its sources named in reasons by their platform's title, or by
    their own name where the group holds two sources of one platform."""
    from leadscore.people import load_people
    from leadscore.platforms import platform

    by_platform: dict[str, list[str]] = {}
    for source in sources:
        by_platform.setdefault(source.platform, []).append(source.name)
    labels = {
        source.name: platform(source.platform).title if len(by_platform[source.platform]) == 1 else source.name
        for source in sources
    }
    return load_people(path, [s.name for s in sources], labels)
