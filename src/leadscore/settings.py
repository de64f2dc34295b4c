"""Where leadscore finds its store, model and sources, and how the daemon behaves.

One env prefix (``LEADSCORE_``), an optional ``.env``, and a secrets directory
(``/run/secrets`` when it exists). Sources live in a YAML file; a source's
token comes from ``token``, ``token_env`` (a variable's name), ``token_file``,
or the secrets directory (``<secrets>/<source name>_token``). Secrets are
SecretStr, so they never print; a bad setting names its variable and the fix.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadscore.errors import ConfigError
from leadscore.rescore import Parallelism

ENV_PREFIX = "LEADSCORE_"
SECRETS_DIR = Path(os.environ.get("LEADSCORE_SECRETS_DIR", "/run/secrets"))


class Schedule(BaseModel):
    """When a source syncs: every ``interval_seconds``, or on a ``cron`` expression (UTC)."""

    model_config = ConfigDict(extra="forbid")

    interval_seconds: int | None = Field(default=300, ge=1)
    cron: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        if self.cron is not None:
            fields = self.cron.split()
            if len(fields) != 5:
                raise ValueError(f"cron '{self.cron}' needs 5 fields (minute hour day month weekday)")
        return self


class SourceSettings(BaseModel):
    """One platform account to sync."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)
    platform: Literal["hubspot", "brevo", "salesforce"]
    base_url: str | None = None
    """The API's root; None means the platform's public one (tests and the demo point it at a sandbox)."""
    token: SecretStr | None = None
    token_env: str | None = None
    token_file: Path | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    oauth_refresh_token: SecretStr | None = None
    login_url: str = "https://login.salesforce.com"
    """Salesforce: where the OAuth token endpoint lives (https://test.salesforce.com for sandboxes, or My Domain)."""
    username: str | None = None
    """Salesforce login flows: the integration user, with ``private_key_file`` (JWT bearer) or ``password``."""
    private_key_file: Path | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    mapping: dict[str, Any] = {}
    schedule: Schedule = Schedule()
    webhook_token: SecretStr | None = None
    """Bearer token the platform's webhooks must present at /webhooks/<name>; without it webhooks are refused."""
    webhook_token_env: str | None = None

    def resolved_webhook_token(self) -> str | None:
        if self.webhook_token is not None:
            return self.webhook_token.get_secret_value()
        if self.webhook_token_env:
            return os.environ.get(self.webhook_token_env) or None
        path = SECRETS_DIR / f"{self.name}_webhook_token"
        return path.read_text(encoding="utf-8").strip() if path.is_file() else None

    def resolved_token(self) -> str:
        if self.token is not None:
            return self.token.get_secret_value()
        if self.token_env:
            value = os.environ.get(self.token_env)
            if value:
                return value
            raise ConfigError(f"source '{self.name}': environment variable {self.token_env} (its API token) is not set")
        for path in (self.token_file, SECRETS_DIR / f"{self.name}_token"):
            if path is not None and path.is_file():
                return path.read_text(encoding="utf-8").strip()
        raise ConfigError(
            f"source '{self.name}': no API token; set token_env (a variable holding it), token_file, or put it in "
            f"{SECRETS_DIR / (self.name + '_token')}"
        )

    def secrets(self) -> list[str]:
        """Every secret value this source holds, for log redaction."""
        held = (self.token, self.oauth_client_secret, self.oauth_refresh_token, self.password, self.security_token)
        values = [s.get_secret_value() for s in held if s]
        values.append(self.resolved_webhook_token() or "")
        with contextlib.suppress(ConfigError):
            values.append(self.resolved_token())
        return [v for v in values if v]


class Settings(BaseSettings):
    """LEADSCORE_* environment variables, an optional .env, and the secrets directory."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        secrets_dir=str(SECRETS_DIR) if SECRETS_DIR.is_dir() else None,
    )

    state_url: str = Field("sqlite:///leadscore.db", description="store: a SQLite file or postgresql://user@host/db")
    model: Path = Field(Path("config/scoring.yaml"), description="the scoring model file")
    sources_file: Path = Field(Path("config/sources.yaml"), description="the sources file")
    http_host: str = Field("127.0.0.1", description="address of /healthz, /readyz, /metrics (0.0.0.0 in a container)")
    http_port: int = Field(9464, ge=0, le=65535, description="port of /healthz, /readyz, /metrics (0: any free)")
    log_format: Literal["auto", "json", "text"] = Field("auto", description="json, text, or auto (json unless a tty)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    log_emails: bool = Field(False, description="let email addresses appear in logs")
    full_rescore_seconds: int = Field(86_400, ge=60, description="how often a cycle rescores everyone (decay)")
    misfire_grace_seconds: int = Field(3_600, ge=1, description="how late a missed run may still start (paused host)")
    shutdown_grace_seconds: float = Field(30, gt=0, description="how long SIGTERM waits for the cycle in flight")
    ready_failed_cycles: int = Field(3, ge=1, description="failed cycles in a row after which /readyz says 503")
    scoring_workers: int = Field(0, ge=0, description="processes that score a large rescore (0: one per core, max 4)")
    parallel_min_contacts: int = Field(50_000, ge=1, description="contacts to rescore before workers are started")

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
    sources = []
    for position, raw in enumerate(raw_sources):
        try:
            sources.append(SourceSettings.model_validate(raw))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{path}: sources[{position}]: {problems}") from None
    names = [s.name for s in sources]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise ConfigError(f"{path}: source names must be unique; repeated: {', '.join(sorted(duplicated))}")
    return sources
