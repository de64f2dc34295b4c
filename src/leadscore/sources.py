"""What every source in the sources file holds, whatever its platform; each platform's plug-in extends it.

A source's token comes from ``token``, ``token_env`` (a variable's name),
``token_file``, or the secrets directory (``<secrets>/<source name>_token``), the
first that holds one: a compose file that sets ``token_env`` to an empty variable
and mounts the secret still runs.
Secrets are SecretStr, so they never print.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from leadscore.errors import ConfigError

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
            try:
                CronTrigger.from_crontab(self.cron, timezone=UTC)
            except ValueError as exc:
                raise ValueError(f"cron '{self.cron}' is not a schedule: {exc}") from None
        return self


class SourceSettings(BaseModel):
    """One platform account to sync: the fields every platform has. A platform's own settings model (declared by
    its plug-in) adds its credentials; ``load_sources`` validates each source with its platform's model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)
    platform: str
    base_url: str | None = None
    """The API's root; None means the platform's public one (tests and the demo point it at a sandbox)."""
    token: SecretStr | None = None
    token_env: str | None = None
    token_file: Path | None = None
    mapping: dict[str, Any] = {}
    schedule: Schedule = Schedule()
    webhook_token: SecretStr | None = None
    """Bearer token the platform's webhooks must present at /webhooks/<name>; without it webhooks are refused."""
    webhook_token_env: str | None = None

    @field_validator("base_url")
    @classmethod
    def _an_http_url(cls, value: str | None) -> str | None:
        """A typo here would be retried as a connection failure for a minute; it is a setting to fix."""
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
            raise ValueError(f"'{value}' is not an http(s) URL such as https://api.hubapi.com")
        return value

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
        if self.token_env and os.environ.get(self.token_env):
            return os.environ[self.token_env]
        for path in (self.token_file, SECRETS_DIR / f"{self.name}_token"):
            if path is not None and path.is_file():
                return path.read_text(encoding="utf-8").strip()
        unset = f"environment variable {self.token_env} is empty or unset and " if self.token_env else ""
        raise ConfigError(
            f"source '{self.name}': no API token: {unset}no token_file or "
            f"{SECRETS_DIR / (self.name + '_token')} holds one; set one of them"
        )

    def check_credentials(self) -> None:
        """Raise ConfigError when the source has no way to authenticate; platforms with other flows override it."""
        self.resolved_token()

    def held_secrets(self) -> tuple[SecretStr | None, ...]:
        """The secret fields this source holds; platform models add their own."""
        return (self.token, self.webhook_token)

    def secrets(self) -> list[str]:
        """Every secret value this source holds, for log redaction."""
        values = [s.get_secret_value() for s in self.held_secrets() if s]
        values.append(self.resolved_webhook_token() or "")
        with contextlib.suppress(ConfigError):
            values.append(self.resolved_token())
        return [v for v in values if v]
