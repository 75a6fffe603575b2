"""One place for configuration: every setting reads an ``EC_``-prefixed env var.

``DATABASE_URL`` is the exception (no prefix) because every Postgres host,
Supabase included, hands it out under that name.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from equity_connect.security.signatures import parse_literal_secrets


class Settings(BaseSettings):
    """Runtime settings. Secrets are read here but never logged or stored in the database."""

    # hide_input_in_errors: a start-up error must not print a secret it rejects.
    model_config = SettingsConfigDict(env_prefix="EC_", extra="ignore", hide_input_in_errors=True)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "EC_DATABASE_URL")
    )
    data_dir: Path = Path(".data")
    pool_min_size: int = 1
    pool_max_size: int = 10

    # PII keys. Either inline values or files holding them (Docker/K8s secrets).
    encryption_keys: str | None = None
    encryption_keys_file: Path | None = None
    index_key: str | None = None
    index_key_file: Path | None = None

    # Uploads: signing secrets (comma-separated; several at once for rotation;
    # a whsec_ secret is base64-decoded as Standard Webhooks says).
    upload_secrets: str | None = None
    max_upload_bytes: int = 512 * 1024 * 1024
    max_upload_rows: int = 5_000_000
    max_field_bytes: int = 131_072
    signature_tolerance_seconds: int = 300
    # An upload adding at least this many leads (and a third of the table)
    # rebuilds leads' indexes instead of updating them row by row; 0: never.
    ingest_bulk_index_min_rows: int = 100_000
    # Processes that stage a large upload's rows; 0: one per available core.
    ingest_workers: int = 0
    # How those processes stage a block of rows (EC_STAGING): "columnar" =
    # ingest/columnar.py (polars columns, row-wise only for rows it cannot
    # settle); "rows" = one record at a time, the path every block took before.
    staging: Literal["columnar", "rows"] = "columnar"

    # Skip-trace: providers in the order they are asked (melissa, batchdata,
    # simulator); the next is asked only for leads the previous left unmatched.
    skiptrace_providers: str = ""
    skiptrace_window_days: int = 30
    skiptrace_batch_size: int = 100
    melissa_license: str | None = None
    melissa_base_url: str = "https://personator.melissadata.net"
    melissa_path: str = "/v3/WEB/ContactVerify/doContactVerify"
    melissa_rate_per_sec: float = 10.0
    batchdata_token: str | None = None
    batchdata_base_url: str = "https://api.batchdata.com"
    batchdata_rate_per_sec: float = 50.0  # 3,000 requests/min per token

    # Campaign feed
    daily_feed_cap: int = 250
    campaign_provider: str = ""  # instantly | simulator
    instantly_api_key: str | None = None
    instantly_base_url: str = "https://api.instantly.ai"
    instantly_campaign_id: str | None = None
    schedule_grace_hours: float = 4.0
    skip_federal_holidays: bool = True
    skip_dates: str = ""  # comma-separated ISO dates

    # Inbound webhooks. Each provider's secrets are comma-separated (rotation).
    max_webhook_bytes: int = 1024 * 1024
    instantly_webhook_secrets: str | None = None
    instantly_webhook_header: str = "X-Webhook-Secret"
    vapi_secrets: str | None = None
    vapi_auth: str = "secret"  # secret (X-Vapi-Secret), bearer, hmac; comma-separated
    vapi_hmac_signature_header: str = "x-signature"
    vapi_hmac_timestamp_header: str = "x-timestamp"
    vapi_hmac_payload_format: str = "{timestamp}.{body}"
    vapi_hmac_prefix: str = ""
    # Cal.com: one secret exactly as typed in Cal.com, or a JSON array of them
    # (rotation); never comma-split or base64-decoded (see parse_literal_secrets).
    calcom_secrets: str | None = None

    # Replies, consent, booking, notifications
    llm_base_url: str | None = None  # any OpenAI-compatible endpoint; unset = local only
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = 8.0
    public_base_url: str = "http://127.0.0.1:8000"
    consent_ttl_hours: int = 168
    disclosure_version: str = "2026-11-tcpa-v1"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_from: str = "equity-connect@localhost"

    # Worker
    worker_concurrency: int = 4
    job_lease_seconds: float = 60.0

    # Health and auth
    ready_worker_max_age_seconds: float = 120.0
    jwt_secret: str | None = None  # the Supabase project's JWT secret (HS256)
    jwt_audience: str = "authenticated"
    session_secret: str | None = None  # signs dashboard session cookies
    log_level: str = "INFO"

    # API server
    host: str = "127.0.0.1"
    port: int = 8000

    # Auth: Supabase JWT signing keys (asymmetric ES256/RS256 tokens, JWKS)
    jwt_issuer: str | None = None  # e.g. https://<project>.supabase.co/auth/v1; checks iss
    jwt_jwks_url: str | None = None  # default: EC_JWT_ISSUER + /.well-known/jwks.json
    jwt_jwks_ttl_seconds: float = Field(default=600.0, gt=0)
    jwt_jwks_refetch_seconds: float = Field(default=30.0, ge=0)
    jwt_jwks_timeout_seconds: float = Field(default=5.0, gt=0)

    # Cal.com booking events: one referring to a booking not received yet waits
    # for it, retried after base·2ⁿ seconds (capped, jittered), until the job's
    # attempts run out and it goes to the DLQ with the reason.
    calcom_wait_base_seconds: float = 5.0
    calcom_wait_cap_seconds: float = 600.0

    # Database privileges (least privilege, Supabase). The owner's URL, for
    # `db migrate` only; DATABASE_URL is then the application's login
    # (ec_app). Unset: migrate uses DATABASE_URL too.
    migrate_database_url: str | None = None
    # Rejected requests: one security_events row per kind, code and address
    # per window (with a hit count), kept this many days.
    security_event_window_seconds: float = 60.0
    security_event_retention_days: int = 90

    # Faults: connection loss, outages, slow clients
    pool_timeout_seconds: float = 10.0  # wait for a pooled connection, then 503 / retry
    # Reconnect a lost pool slot (backoff doubling from 1 s) this long, then give
    # it up; the next checkout grows it again at once. Short, so a database
    # back after minutes is used within seconds, not after a long backoff step.
    pool_reconnect_timeout_seconds: float = 10.0
    # The worker rides out outages shorter than this, then exits non-zero so a
    # process manager restarts it (and someone notices).
    worker_max_db_outage_seconds: float = 300.0
    worker_backoff_cap_seconds: float = 5.0  # longest pause between tries while the DB is away
    # A request whose body stalls this long between two chunks is answered 408.
    request_body_timeout_seconds: float = 30.0

    # VAPI (calls/): the assistant an assistant-request is answered with (unset:
    # such requests get a 422); see docs/providers.md (VAPI).
    vapi_assistant_id: str | None = None
    # Several VAPI credentials at once (rotation): a JSON list of VAPI's own
    # credential settings (see calls/credentials.py), accepted with EC_VAPI_SECRETS.
    vapi_credentials: str | None = None
    # How the EC_VAPI_SECRETS are sent for each type EC_VAPI_AUTH lists
    # (now a comma-separated list: secret,bearer,hmac). Defaults are VAPI's.
    vapi_bearer_header: str = "Authorization"
    vapi_bearer_prefix_enabled: bool = True
    vapi_hmac_algorithm: str = "sha256"  # sha256 | sha512 | sha1
    vapi_hmac_signature_encoding: str = "hex"  # hex | base64
    vapi_hmac_include_timestamp: bool = True
    vapi_hmac_secret_is_base64: bool = False
    vapi_hmac_message_id_header: str = ""
    # Outbound calls (POST /call): the private API key, the VAPI phone number calls
    # come from, and the API's base URL (tests point it at a local fake).
    vapi_api_key: str | None = None
    vapi_phone_number_id: str | None = None
    vapi_base_url: str = "https://api.vapi.ai"

    # Reply classifier (replies/model.py): "model" = opt-out guard + learned model, falling
    # back to the rules with a warning where the model cannot load; "rules" = guard + rules.
    reply_classifier: Literal["model", "rules"] = "model"

    # Signed outbound events (events/): one HTTP attempt per job, with this
    # timeout; failed attempts retry after base·2ⁿ s (full jitter, capped) up
    # to max attempts; Retry-After on 429/503 is honoured (up to the cap). After
    # breaker_threshold consecutive failures an endpoint's breaker opens for
    # the cool-down: its deliveries wait, without a request, and then one probe.
    events_timeout_seconds: float = 10.0
    events_max_attempts: int = Field(default=8, ge=1)
    events_backoff_base_seconds: float = Field(default=5.0, ge=0)
    events_backoff_cap_seconds: float = Field(default=3600.0, ge=0)
    events_breaker_threshold: int = Field(default=5, ge=1)
    events_breaker_cooldown_seconds: float = Field(default=300.0, ge=0)
    # Endpoint URLs are https, or http to loopback; these widen that (SSRF guard).
    events_allow_http: bool = False
    events_allow_private_targets: bool = False
    # Texts (sms/, docs/providers.md (SignalWire)): "signalwire" sends through the
    # Compatibility API; "simulator" writes to the outbox folder; unset queues no texts.
    sms_provider: Literal["", "signalwire", "simulator"] = ""
    signalwire_space_url: str | None = None  # https://<space>.signalwire.com
    signalwire_project_id: str | None = None
    signalwire_api_token: str | None = None
    signalwire_from_number: str | None = None  # one of the project's numbers, E.164
    # The project's Signing Key(s) (dashboard, API credentials), comma-separated during a
    # reset; they verify X-SignalWire-Signature on POST /v1/webhooks/signalwire.
    signalwire_signing_keys: str | None = None
    sms_timeout_seconds: float = 15.0
    # Key-encryption keys (security/kek.py): "env" = EC_ENCRYPTION_KEYS only; "aws" =
    # AWS KMS holds the active KEK (EC_ENCRYPTION_KEYS, if set, only read older values
    # until `keys rotate`). Credentials come from boto3's usual chain, never from here.
    kms_provider: Literal["env", "aws", "vault"] = "env"  # vault: the block at the end
    aws_kms_key_id: str | None = None  # key id, ARN or alias/...
    aws_kms_kid: str = "kms1"  # the key id our ciphertexts name the KMS key by
    aws_region: str | None = None
    aws_kms_endpoint_url: str | None = None  # a VPC endpoint, or a local KMS in tests
    kms_cache_max_keys: int = Field(default=1000, ge=1)  # unwrapped data keys kept
    kms_cache_ttl_seconds: float = Field(default=300.0, gt=0)  # and for how long
    # Cal.com set-up (booking/calcom_setup.py): API v2, one API key per broker (a JSON
    # object: broker e-mail -> that broker's Cal.com API key), event types and minutes.
    calcom_api_base_url: str = "https://api.cal.com"
    calcom_api_keys: str | None = None
    calcom_booking_base_url: str = "https://cal.com"  # or the custom booking domain
    calcom_event_durations: str = "equity-call=30,follow-up=15,doc-review=45"
    calcom_timeout_seconds: float = Field(default=10.0, gt=0)
    # Asynchronous uploads (ingest/uploads.py): POST /v1/uploads?wait=true answers with
    # the report only for a body up to upload_wait_max_bytes, processed within
    # upload_wait_seconds (else 202, as without wait). A processing upload renews its
    # heartbeat every upload_heartbeat_seconds; one silent for upload_stale_seconds
    # belongs to a dead process and the worker's sweeper marks it failed.
    upload_wait_max_bytes: int = 8 * 1024 * 1024
    upload_wait_seconds: float = 30.0
    upload_heartbeat_seconds: float = 5.0
    upload_stale_seconds: float = 60.0
    # Homeowner pages (consent/pages.py) and the ops console (issue 15). The brand on
    # the consent page and its error pages comes from these settings, never from the
    # link: the brokerage's name, its NMLS ID, its privacy policy and how to reach it;
    # the loan officer's name comes from the lead's broker. Spend on the providers page
    # is derived: providers do not report it, so records sent × the price per record.
    brand_name: str = "Equity Connect"
    brand_nmls_id: str | None = None
    privacy_policy_url: str | None = None
    brand_support_phone: str | None = None
    brand_support_email: str | None = None
    # Vault transit as the KEK provider (security/vault_transit.py, EC_KMS_PROVIDER=vault):
    # the transit key never leaves Vault; the token (or a file holding it) authenticates.
    vault_addr: str | None = None  # e.g. https://vault.internal:8200
    vault_token: str | None = None
    vault_token_file: Path | None = None
    vault_transit_mount: str = "transit"
    vault_transit_key: str | None = None
    vault_kid: str = "vault1"  # the key id our ciphertexts name the transit key by
    vault_namespace: str | None = None  # X-Vault-Namespace (Vault Enterprise / OpenBao)

    @property
    def brand_contact(self) -> str:
        """How a homeowner reaches the brokerage (a text's HELP answer): phone, else e-mail."""
        if self.brand_support_phone:
            return f"Call {self.brand_support_phone}"
        return f"Write to {self.brand_support_email}" if self.brand_support_email else ""

    def brand_warning(self) -> str | None:
        """One sentence for start-up (serve, demo) when the homeowner pages would show no
        NMLS ID or no privacy-policy link, saying what to set; None when both are set. A
        warning, not a refusal: a test or demo deployment may run without them."""
        missing = [
            (env, what)
            for env, what, value in (
                ("EC_BRAND_NMLS_ID", "NMLS ID", self.brand_nmls_id),
                ("EC_PRIVACY_POLICY_URL", "privacy-policy link", self.privacy_policy_url),
            )
            if not (value or "").strip()
        ]
        if not missing:
            return None
        return (
            f"the homeowner pages (consent and its errors) show no "
            f"{' and no '.join(w for _, w in missing)} for {self.brand_name}: "
            f"set {' and '.join(e for e, _ in missing)} before homeowners see them."
        )

    provider_cost_per_record_usd: dict[str, float] = Field(default_factory=dict)
    # MCP server (mcp_server/): each token's tool calls share one bucket of
    # mcp_rate_per_sec calls a second, at most mcp_burst at once; the stdio
    # server's bearer token (a broker JWT or an ops API key).
    mcp_rate_per_sec: float = Field(default=5.0, gt=0)
    mcp_burst: float = Field(default=30.0, ge=1)
    mcp_token: str | None = None
    # BatchData through its MCP server (EC_SKIPTRACE_PROVIDERS=batchdata-mcp):
    # where it is, how to talk to it, which tool skip-traces, and how the REST
    # body's keys map onto the tool's arguments (JSON {"argument": "body key"}).
    batchdata_mcp_url: str | None = None
    batchdata_mcp_transport: Literal["streamable-http", "sse"] = "streamable-http"
    batchdata_mcp_tool: str = "skip-trace"
    batchdata_mcp_arguments: str = '{"requests": "requests", "options": "options"}'
    batchdata_mcp_token: str | None = None
    batchdata_mcp_timeout_seconds: float = Field(default=30.0, gt=0)
    # The ingest's dedupe after the exact cascade (ingest/matching_pass.py):
    # "probabilistic" = owner-aware match weights; "exact" = the cascade only.
    matching: Literal["probabilistic", "exact"] = "probabilistic"

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_secret_long_enough(cls, value: str | None) -> str | None:
        # HS256 keys under 32 bytes are refused by the verifier (RFC 7518 §3.2);
        # failing here makes that a start-up error instead of a 500 per request.
        if value is not None and len(value.encode()) < 32:
            raise ValueError("EC_JWT_SECRET must be at least 32 bytes")
        return value

    @model_validator(mode="after")
    def _jwks_url_is_safe(self) -> Settings:
        # Keys fetched over plain HTTP could be swapped by anyone on the path,
        # so only https, or http to this machine (local Supabase, tests).
        url = self.jwks_url
        if url is not None:
            parts = urlsplit(url)
            loopback = parts.hostname in {"127.0.0.1", "::1", "localhost"}
            if not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
                raise ValueError(
                    "the JWKS URL (EC_JWT_JWKS_URL, or EC_JWT_ISSUER + /.well-known/jwks.json)"
                    " must be https (http only to 127.0.0.1/localhost)"
                )
        if self.jwt_jwks_refetch_seconds > self.jwt_jwks_ttl_seconds:
            raise ValueError("EC_JWT_JWKS_REFETCH_SECONDS must not exceed EC_JWT_JWKS_TTL_SECONDS")
        return self

    @property
    def jwks_url(self) -> str | None:
        """Where the signing keys are: EC_JWT_JWKS_URL, else derived from EC_JWT_ISSUER."""
        if self.jwt_jwks_url:
            return self.jwt_jwks_url
        if self.jwt_issuer:
            # supabase/auth publishes the key set at issuer + /.well-known/jwks.json.
            return self.jwt_issuer.rstrip("/") + "/.well-known/jwks.json"
        return None

    @field_validator("calcom_secrets")
    @classmethod
    def _calcom_secrets_parse(cls, value: str | None) -> str | None:
        # A malformed JSON list fails at start-up, not as a 500 per webhook.
        if value is not None:
            try:
                parse_literal_secrets(value)
            except ValueError as exc:
                raise ValueError(f"EC_CALCOM_SECRETS: {exc}") from exc
        return value

    @property
    def embedded_pgdata(self) -> Path:
        """Where the embedded PostgreSQL keeps its cluster when no DATABASE_URL is set."""
        return self.data_dir / "pg"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process, read once from the environment."""
    return Settings()
