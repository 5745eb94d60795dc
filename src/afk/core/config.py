"""afk's configuration: every setting, its ``AFK_*`` variable, and the two arming gates.

Why it fails closed: afk hands issues to full-access agents, so a freshly loaded config must do
nothing. ``armed`` needs the kill switch explicitly off AND at least one enrolled repo; a kill
switch value that does not read as a boolean keeps the switch on (with a warning, not an error,
so a CronJob with a typo stays quietly disarmed instead of crash-looping).

Sources, later wins: built-in defaults < the TOML file given with ``--config`` < ``AFK_*`` env.
This module is the only core code that reads the environment, through pydantic-settings.
"""

from __future__ import annotations

import contextvars
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from afk.core.types import Delivery, Limits, RepoRef
from afk.errors import ConfigError

if TYPE_CHECKING:
    from afk.core.dispatch_policy import DispatchPolicy

ENV_PREFIX = "AFK_"
GITHUB_API_URL = "https://api.github.com"
DEFAULT_VAULT_JWT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
AUTO_FLEET_THRESHOLD = 20
"""``AFK_LISTING=auto`` lists fleet-wide from this many enrolled repos on (docs/scaling.md).

Below it the per-repo listings cost at most 20 x 90 = 1,800 requests an hour on GitHub (36 % of
one token's 5,000), and they read the database itself: no index lag, so a ready issue is picked
on the next tick and no pick needs its re-read. From 20 on, fleet listing saves more than half
of the poll tick's requests (benchmarks/fleet_listing.py) and the per-repo cost heads for the
whole budget (55 repos)."""
DEFAULT_RATE_RESERVE = 0.10

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_SECRET_FIELDS = frozenset({"tracker_token", "t3_token", "slack_token", "slack_webhook_url"})
_toml_path: contextvars.ContextVar[Path | None] = contextvars.ContextVar("afk_toml", default=None)


def _parse_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def _printable_ascii(text: str) -> bool:
    return all(0x20 <= ord(char) <= 0x7E for char in text)


def _kill_switch(value: object) -> bool:
    """Anything that is not clearly a boolean keeps the switch ON."""
    parsed = _parse_bool(value)
    return True if parsed is None else parsed


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _repos(value: object) -> tuple[RepoRef, ...]:
    items = _comma_list(value)
    if not isinstance(items, list | tuple):
        raise ValueError("expected a comma-separated list of owner/name")
    repos: list[RepoRef] = []
    for item in items:
        if isinstance(item, RepoRef):
            repo = item
        elif isinstance(item, str):
            try:
                repo = RepoRef.parse(item)
            except ValueError:
                raise ValueError(f"entry {item!r} is not an exact owner/name repository") from None
        else:
            raise ValueError(f"entry {item!r} is not an owner/name string")
        if repo in repos:
            continue
        twin = next((seen for seen in repos if str(seen).casefold() == str(repo).casefold()), None)
        if twin is not None:
            # Both forges ignore case in repo names: two spellings would be one repo with two
            # sets of thread ids and checkouts, i.e. two agents on the same issue.
            raise ValueError(f"{twin} and {repo} are the same repository: enrol it once")
        repos.append(repo)
    return tuple(repos)


def _check_names(value: object) -> tuple[str, ...]:
    """``AFK_REQUIRED_CHECKS``: status contexts or check-run names, in order, each once."""
    items = _comma_list(value)
    if items is None:
        return ()
    if not isinstance(items, list | tuple):
        raise ValueError("expected a comma-separated list of status contexts or check names")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"entry {item!r} is not a check name")
        if item.strip() and item.strip() not in names:
            names.append(item.strip())
    return tuple(names)


def _reserve(value: object) -> object:
    """``AFK_RATE_RESERVE``: a share of each rate limit, as ``10%`` or ``0.1``."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                return float(text[:-1].strip()) / 100
            except ValueError:
                raise ValueError("expected a share of the limit such as 10% or 0.1") from None
    return value


def _logins(value: object) -> frozenset[str] | None:
    items = _comma_list(value)
    if items is None:
        return None
    if not isinstance(items, list | tuple | set | frozenset):
        raise ValueError("expected a comma-separated list of logins")
    # An explicit empty list trusts nobody; only leaving the setting out turns the check off.
    return frozenset(str(item).strip() for item in items if str(item).strip())


class Config(BaseSettings):
    """Every setting afk reads. Field ``x`` is variable ``AFK_X`` and TOML key ``x``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    # the two gates
    kill_switch: Annotated[bool, BeforeValidator(_kill_switch)] = True
    allowlist: Annotated[tuple[RepoRef, ...], NoDecode, BeforeValidator(_repos)] = ()

    # tracker
    tracker_kind: Literal["forgejo", "github"] | None = None
    tracker_url: str | None = None
    tracker_token: SecretStr | None = None
    tracker_token_file: Path | None = None
    bot_login: str | None = None

    # T3
    t3_url: str | None = None
    t3_token: SecretStr | None = None
    t3_token_file: Path | None = None
    t3_model: str = "claude-sonnet-4-6"
    t3_workspace_base: str = "/data"

    # Slack (optional)
    slack_token: SecretStr | None = None
    slack_channel: str | None = None
    slack_webhook_url: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    # Vault (optional: the T3 bearer from KV v2 via Kubernetes auth)
    vault_addr: str | None = None
    vault_role: str | None = None
    vault_mount: str = "secret"
    vault_path: str | None = None
    vault_jwt_path: Path = Path(DEFAULT_VAULT_JWT_PATH)

    # labels
    label_ready: str = Field("ready-for-agent", min_length=1)
    label_in_progress: str = Field("agent-in-progress", min_length=1)
    label_human: str = Field("ready-for-human", min_length=1)

    # limits
    max_concurrent: int = Field(3, ge=1)
    max_fix_forwards: int = Field(3, ge=0)
    stall_minutes: int = Field(45, ge=1)
    max_run_minutes: int = Field(240, ge=1)
    max_ci_minutes: int = Field(120, ge=1)

    # delivery: the agent pushes to the default branch, or a branch afk opens a PR for
    delivery: Delivery = Delivery.PUSH
    merge: Literal["human", "auto"] = "human"
    merge_method: Literal["squash", "merge", "rebase"] = "squash"
    max_review_rounds: int = Field(3, ge=0)
    branch_prefix: str = Field("afk/", min_length=1, max_length=100)

    deploy_context: str | None = None
    required_checks: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_check_names)] = ()
    trusted_labelers: Annotated[frozenset[str] | None, NoDecode, BeforeValidator(_logins)] = None

    http_timeout_seconds: float = Field(10.0, gt=0, le=300)
    http_retry_seconds: float = Field(10.0, ge=0, le=300)
    # A tick's whole time: no write starts that could not end within it (docs/deploy.md).
    tick_seconds: float = Field(60.0, gt=0, le=3600)
    log_format: Literal["json", "human"] | None = None

    # fleet scale: how a tick lists the enrolled repos, and the rate budget kept for runs in flight
    listing: Literal["auto", "per-repo", "fleet"] = "auto"
    rate_reserve: Annotated[float, BeforeValidator(_reserve)] = Field(
        DEFAULT_RATE_RESERVE, ge=0, le=0.9
    )

    # GitHub App authentication (instead of a token): its id (or client id) and private key
    github_app_id: str | None = Field(None, pattern=r"^(\d+|Iv[0-9A-Za-z.]+)$")
    github_app_private_key_file: Path | None = None
    github_app_installation_id: int | None = Field(None, ge=1)

    # metrics (optional): the Pushgateway every armed tick pushes to, and its grouping instance
    pushgateway_url: str | None = None
    instance: str = Field("afk", min_length=1, max_length=128)

    @field_validator("required_checks")
    @classmethod
    def _required_checks_are_ci(
        cls, value: tuple[str, ...], info: ValidationInfo
    ) -> tuple[str, ...]:
        """The deploy is judged by the deploy check alone: required as CI, it would never be."""
        deploy = info.data.get("deploy_context")
        if deploy and deploy in value:
            raise ValueError(
                f"{deploy!r} is AFK_DEPLOY_CONTEXT, the deploy check, which is never counted "
                "as CI: leave it out of AFK_REQUIRED_CHECKS"
            )
        return value

    @field_validator("branch_prefix")
    @classmethod
    def _branch_prefix(cls, value: str) -> str:
        """The start of a git branch name (``git check-ref-format``): no spaces, no ``..``, no
        ``~^:?*[\\``, not ending in ``.lock``, no leading ``-`` or ``/``."""
        bad = set(" ~^:?*[\\") | {chr(c) for c in range(32)} | {"\x7f"}
        if (
            any(char in bad for char in value)
            or ".." in value
            or "@{" in value
            or value.startswith(("-", "/", "."))
            or "//" in value
        ):
            raise ValueError(f"{value!r} cannot start a git branch name")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") + "/"

    @field_validator("tracker_url", "t3_url", "vault_addr", "pushgateway_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("tracker_token", "t3_token", "slack_token")
    @classmethod
    def _header_safe(cls, value: SecretStr | None) -> SecretStr | None:
        """A token rides in an HTTP header, which carries printable ASCII only."""
        if value is not None and not _printable_ascii(value.get_secret_value().strip()):
            raise ValueError(
                "the token holds a character that is not printable ASCII (a byte-order mark, a "
                "typographic quote, a control character?)"
            )
        return value

    @field_validator("tick_seconds")
    @classmethod
    def _tick_fits_a_call(cls, value: float, info: ValidationInfo) -> float:
        """A write starts only when its whole call (timeout plus retries) fits in what is left
        of the tick: a tick no longer than one call could never write at all."""
        timeout, retry = info.data.get("http_timeout_seconds"), info.data.get("http_retry_seconds")
        if isinstance(timeout, float) and isinstance(retry, float) and value <= timeout + retry:
            raise ValueError(
                "must be more than AFK_HTTP_TIMEOUT_SECONDS + AFK_HTTP_RETRY_SECONDS "
                f"({timeout + retry:g} s): a write starts only when its whole call fits"
            )
        return value

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> Config:
        """An App and a token together would leave it unclear who afk is on the forge (the run
        comment's author check depends on it): refuse instead of picking one."""
        app = self.github_app_id is not None or self.github_app_private_key_file is not None
        if not app:
            if self.github_app_installation_id is not None:
                raise ValueError(
                    "AFK_GITHUB_APP_INSTALLATION_ID is set without AFK_GITHUB_APP_ID and "
                    "AFK_GITHUB_APP_PRIVATE_KEY_FILE"
                )
            return self
        if self.github_app_id is None or self.github_app_private_key_file is None:
            raise ValueError(
                "a GitHub App needs both AFK_GITHUB_APP_ID and AFK_GITHUB_APP_PRIVATE_KEY_FILE"
            )
        if self.tracker_token is not None or self.tracker_token_file is not None:
            variable = "AFK_TRACKER_TOKEN" if self.tracker_token else "AFK_TRACKER_TOKEN_FILE"
            raise ValueError(
                f"{variable} and AFK_GITHUB_APP_ID are both set: afk authenticates either with "
                "a token or as a GitHub App, unset one of them"
            )
        if self.tracker_kind not in (None, "github"):
            raise ValueError("AFK_GITHUB_APP_ID is set but AFK_TRACKER_KIND is not github")
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _collect_warnings(cls, data: Any, handler: Any) -> Any:
        warnings: list[str] = []
        if isinstance(data, dict) and _parse_bool(data.get("kill_switch", True)) is None:
            warnings.append(
                f"AFK_KILL_SWITCH={data['kill_switch']!r} is not a boolean "
                "(use true or false): the kill switch stays ON"
            )
        model = handler(data)
        object.__setattr__(model, "_afk_warnings", tuple(warnings))
        return model

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _toml_path.get()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    # --- what the rest of afk asks of its configuration ------------------------------------

    @property
    def warnings(self) -> tuple[str, ...]:
        """Problems that did not stop loading (they keep afk disarmed instead)."""
        found: tuple[str, ...] = getattr(self, "_afk_warnings", ())
        return found

    @property
    def armed(self) -> bool:
        return self.kill_switch is False and bool(self.allowlist)

    def disarmed_reason(self) -> str | None:
        """Which gate is closed, in words a person can act on; ``None`` when armed."""
        closed = []
        if self.kill_switch:
            closed.append("the kill switch is on (set AFK_KILL_SWITCH=false)")
        if not self.allowlist:
            closed.append("no repository is enrolled (set AFK_ALLOWLIST=owner/name[,...])")
        return "disarmed: " + " and ".join(closed) if closed else None

    @property
    def tracker_api_url(self) -> str | None:
        if self.tracker_url:
            return self.tracker_url
        return GITHUB_API_URL if self.tracker_kind == "github" else None

    def operational_problems(self) -> list[str]:
        """What is missing to actually run a tick; checked only when armed or dry-running."""
        problems = []
        if self.tracker_kind is None:
            problems.append("AFK_TRACKER_KIND is not set (allowed: forgejo, github)")
        elif self.tracker_api_url is None:
            problems.append(
                "AFK_TRACKER_URL is not set (the API base, e.g. https://git.example.com/api/v1)"
            )
        if (
            self.tracker_token is None
            and self.tracker_token_file is None
            and not self.uses_github_app
        ):
            problems.append("AFK_TRACKER_TOKEN (or AFK_TRACKER_TOKEN_FILE) is not set")
        if self.t3_url is None:
            problems.append("AFK_T3_URL is not set (the T3 Code server root)")
        if self.t3_token is None and self.t3_token_file is None and not self.uses_vault:
            problems.append("AFK_T3_TOKEN (or AFK_T3_TOKEN_FILE, or AFK_VAULT_*) is not set")
        if self.vault_addr and not (self.vault_role and self.vault_path):
            problems.append("AFK_VAULT_ADDR is set but AFK_VAULT_ROLE or AFK_VAULT_PATH is not")
        problems.extend(self.slack_problems())
        return problems

    def slack_problems(self) -> list[str]:
        """What is wrong with the Slack settings, by name: every command (``doctor`` as a Slack
        check, a tick as a configuration error) reports the same words. The webhook URL is never
        shown: its path is the credential."""
        problems = []
        if self.slack_webhook_url is not None:
            try:
                parts = urlsplit(self.slack_webhook_url.get_secret_value().strip())
                usable = parts.scheme in ("http", "https") and bool(parts.hostname)
            except ValueError:
                usable = False
            if not usable:
                problems.append(
                    "AFK_SLACK_WEBHOOK_URL is not an http(s) URL (it starts with "
                    "https://hooks.slack.com/services/; the value is secret, so not shown)"
                )
        if self.slack_channel is not None and not self.slack_channel.strip():
            problems.append("AFK_SLACK_CHANNEL is blank (give a channel id, e.g. C0123ABCD)")
        elif self.slack_token is not None and self.slack_channel is None:
            problems.append("AFK_SLACK_TOKEN is set but AFK_SLACK_CHANNEL is not")
        return problems

    @property
    def uses_github_app(self) -> bool:
        return self.github_app_id is not None and self.github_app_private_key_file is not None

    def fleet_listing(self) -> bool:
        """Whether a tick lists the fleet with a few fleet-wide calls (``AFK_LISTING``)."""
        if self.listing == "auto":
            return len(self.allowlist) >= AUTO_FLEET_THRESHOLD
        return self.listing == "fleet"

    def rate_reserve_of(self, limit: int) -> int:
        """Requests of a rate limit kept for decisions on runs already in flight (at least one
        whenever a reserve is configured: a 30-per-minute bucket still keeps one)."""
        if self.rate_reserve <= 0 or limit <= 0:
            return 0
        return max(1, math.ceil(limit * self.rate_reserve))

    @property
    def uses_vault(self) -> bool:
        return bool(self.vault_addr and self.vault_role and self.vault_path)

    @property
    def slack_configured(self) -> bool:
        return self.slack_webhook_url is not None or bool(self.slack_token and self.slack_channel)

    def dispatch_policy(self) -> DispatchPolicy:
        from afk.core.dispatch_policy import DispatchPolicy

        return DispatchPolicy(
            allowlist=frozenset(self.allowlist),
            max_concurrent=self.max_concurrent,
            label_in_progress=self.label_in_progress,
            trusted_labelers=self.trusted_labelers,
            label_ready=self.label_ready,
        )

    def limits(self) -> Limits:
        return Limits(
            max_fix_forwards=self.max_fix_forwards,
            stall_minutes=self.stall_minutes,
            max_run_minutes=self.max_run_minutes,
            max_ci_minutes=self.max_ci_minutes,
            delivery=self.delivery,
            merge_auto=self.merge == "auto",
            max_review_rounds=self.max_review_rounds,
            deploy_configured=self.deploy_context is not None,
        )

    @classmethod
    def env_names(cls) -> frozenset[str]:
        """Every ``AFK_*`` variable afk reads (the deploy manifests are checked against this)."""
        return frozenset(ENV_PREFIX + name.upper() for name in cls.model_fields)


def load_config(toml_path: Path | None = None, **overrides: Any) -> Config:
    """Load from env (and the TOML file), turning every validation failure into ``ConfigError``.

    The message names the variable, the bad value (never a secret's) and what is allowed.
    """
    if toml_path is not None and not toml_path.is_file():
        raise ConfigError(f"--config {toml_path}: no such file", setting="--config")
    token = _toml_path.set(toml_path)
    # Raised after the ``except`` blocks: pydantic's error keeps each input, secrets included,
    # and must not ride along as the ConfigError's ``__context__``.
    failure: ConfigError | None = None
    try:
        return Config(**overrides)
    except ValidationError as exc:
        failure = ConfigError(_describe(exc), setting=_first_setting(exc))
    except ValueError as exc:  # a TOML file that does not parse
        failure = ConfigError(f"--config {toml_path}: {exc}", setting="--config")
    except OSError as exc:  # it exists but cannot be read: permissions, an I/O error
        reason = f"cannot be read ({type(exc).__name__})"
        failure = ConfigError(f"--config {toml_path}: {reason}", setting="--config")
    finally:
        _toml_path.reset(token)
    raise failure


def _first_setting(exc: ValidationError) -> str | None:
    for error in exc.errors():
        if error["loc"]:
            return ENV_PREFIX + str(error["loc"][0]).upper()
        named = re.search(r"AFK_[A-Z0-9_]+", error["msg"])  # a rule across settings names them
        if named:
            return named.group(0)
    return None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        if not error["loc"]:  # a rule across settings: its input is every value, secrets too
            lines.append(error["msg"].removeprefix("Value error, "))
            continue
        field = str(error["loc"][0])
        name = ENV_PREFIX + field.upper()
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown setting {field!r} in the config file")
            continue
        if field in _SECRET_FIELDS:
            lines.append(f"{name}: {message}")
        else:
            lines.append(f"{name}={error.get('input')!r}: {message}")
    return "invalid configuration: " + "; ".join(lines)
