"""Settings from the environment (and an optional .env file): where the data lives and how to reach it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Runtime settings. An empty ``MONGO_URI`` selects the project's local MongoDB server (data folder's mongo/)."""

    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    mongo_uri: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("MONGO_URI", "mongo_uri"),
        description="mongodb:// or mongodb+srv://; empty = the project's local server on loopback",
    )
    mongo_db: str = Field(default="student_performance", validation_alias=AliasChoices("MONGO_DB", "mongo_db"))
    data_dir: Path = Field(
        default=PROJECT_ROOT / "data", validation_alias=AliasChoices("PIPELINE_DATA_DIR", "data_dir")
    )
    artifacts_dir: Path = Field(
        default=PROJECT_ROOT / "artifacts",
        validation_alias=AliasChoices("PIPELINE_ARTIFACTS_DIR", "artifacts_dir"),
    )
    local_mongo_port: int = Field(
        default=27027, ge=1024, le=65535,
        validation_alias=AliasChoices("PIPELINE_LOCAL_MONGO_PORT", "local_mongo_port"),
        description="loopback port of the local server (not 27017, so a real mongod can run beside it)",
    )
    local_mongo_start_timeout_s: float = Field(
        default=30.0, gt=0,
        validation_alias=AliasChoices("PIPELINE_LOCAL_MONGO_START_TIMEOUT_S", "local_mongo_start_timeout_s"),
    )
    api_host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("PIPELINE_API_HOST", "api_host"))
    api_port: int = Field(default=8000, ge=1, le=65535, validation_alias=AliasChoices("PIPELINE_API_PORT", "api_port"))
    api_workers: int = Field(default=1, ge=1, le=64,
                             validation_alias=AliasChoices("PIPELINE_API_WORKERS", "api_workers"))
    api_refresh_s: float = Field(
        default=1.0, gt=0, validation_alias=AliasChoices("PIPELINE_API_REFRESH_S", "api_refresh_s"),
        description="how often the service looks for a new champion or A/B test",
    )
    api_max_records: int = Field(
        default=1000, ge=1, validation_alias=AliasChoices("PIPELINE_API_MAX_RECORDS", "api_max_records"))
    api_open_on_loopback: bool = Field(
        default=True, validation_alias=AliasChoices("PIPELINE_API_OPEN_ON_LOOPBACK", "api_open_on_loopback"),
        description="predict and read without a key for clients on this machine (never label or operate)")
    api_allowed_hosts: str = Field(
        default="", validation_alias=AliasChoices("PIPELINE_API_ALLOWED_HOSTS", "api_allowed_hosts"),
        description="comma-separated Host names the service answers besides loopback ones (its public name)")
    api_max_header_bytes: int = Field(
        default=32_768, ge=4096, validation_alias=AliasChoices("PIPELINE_API_MAX_HEADER_BYTES", "api_max_header_bytes"),
        description="a request's line and headers together, at most (431 beyond, before anything is parsed)")
    api_header_timeout_s: float = Field(
        default=10.0, gt=0, validation_alias=AliasChoices("PIPELINE_API_HEADER_TIMEOUT_S", "api_header_timeout_s"),
        description="a connection that has not sent a whole request line and headers by then is closed")
    api_max_form_bytes: int = Field(
        default=65_536, ge=1024, validation_alias=AliasChoices("PIPELINE_API_MAX_FORM_BYTES", "api_max_form_bytes"),
        description="a dashboard form's body, at most (413 beyond)")
    api_max_key_failures: int = Field(
        default=20, ge=1, validation_alias=AliasChoices("PIPELINE_API_MAX_KEY_FAILURES", "api_max_key_failures"),
        description="wrong keys a client may present per minute before it is answered 429 with Retry-After")
    api_forwarded_allow_ips: str = Field(
        default="", validation_alias=AliasChoices("PIPELINE_API_FORWARDED_ALLOW_IPS", "api_forwarded_allow_ips"),
        description="comma-separated addresses of the proxies whose X-Forwarded-For names the client (none: the "
                    "connection's own address is the client)")
    ab_max_alpha: float = Field(0.05, gt=0, lt=0.5, validation_alias=AliasChoices("PIPELINE_AB_MAX_ALPHA",
                                                                                   "ab_max_alpha"),
                                description="A/B tests: the loosest significance level a client may ask for")
    ab_min_power: float = Field(0.8, ge=0.5, lt=1, validation_alias=AliasChoices("PIPELINE_AB_MIN_POWER",
                                                                                  "ab_min_power"))
    ab_min_margin: float = Field(0.01, ge=0, validation_alias=AliasChoices("PIPELINE_AB_MIN_MARGIN", "ab_min_margin"),
                                 description="A/B tests: the smallest win by which B may replace the champion")
    ab_max_mde: float = Field(0.1, gt=0, validation_alias=AliasChoices("PIPELINE_AB_MAX_MDE", "ab_max_mde"),
                              description="A/B tests of a classifier: the largest accuracy difference to plan for")
    api_chunk_weight: int = Field(
        default=20_000, ge=100, validation_alias=AliasChoices("PIPELINE_API_CHUNK_WEIGHT", "api_chunk_weight"),
        description="a request heavier than this (records + courses + grades) is answered in chunks, one per batch")
    api_batch_workers: int = Field(
        default=2, ge=1, le=16, validation_alias=AliasChoices("PIPELINE_API_BATCH_WORKERS", "api_batch_workers"),
        description="threads answering batches: one computes a batch at a time while the others' log writes wait on "
                    "the store")
    api_features: Literal["in_process", "store"] = Field(
        default="in_process", validation_alias=AliasChoices("PIPELINE_API_FEATURES", "api_features"),
        description="where a request's features are computed: in the service (the contract's second definition, "
                    "kept equal by tests and the live parity check) or in the store over $documents")
    api_parity_share: float = Field(
        default=0.01, ge=0, le=1, validation_alias=AliasChoices("PIPELINE_API_PARITY_SHARE", "api_parity_share"),
        description="share of prediction batches whose in-process features are checked against the store's")
    api_max_body_bytes: int = Field(
        default=5_000_000, ge=1000, validation_alias=AliasChoices("PIPELINE_API_MAX_BODY_BYTES", "api_max_body_bytes"))
    dashboard_url: str = Field(
        default="", validation_alias=AliasChoices("PIPELINE_DASHBOARD_URL", "dashboard_url"),
        description="where people open the dashboard (links in artifacts); empty = the service's own address",
    )
    alert_webhook_url: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("PIPELINE_ALERT_WEBHOOK_URL", "alert_webhook_url"),
        description="where alert notifications are posted (deployments/setup_alerts.py); may hold a token",
    )
    prediction_retention_days: int = Field(
        default=180, ge=0, validation_alias=AliasChoices("PIPELINE_PREDICTION_RETENTION_DAYS",
                                                         "prediction_retention_days"),
        description="raw predictions expire this many days after they are rolled up (0: kept for ever); longer "
                    "than labels take to arrive (live performance and A/B tests read the raw predictions)")
    pseudonym_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("PIPELINE_PSEUDONYM_KEY", "pseudonym_key"),
        description="the key that makes a school's student ids pseudonyms (at least 32 characters; the same for "
                    "every worker and the service); empty = the data folder's pseudonym.key, made on first use")
    retention_days: dict[str, int] = Field(
        default_factory=dict, validation_alias=AliasChoices("PIPELINE_RETENTION_DAYS", "retention_days"),
        description='days each kind of student data is kept, over the defaults (JSON: {"rejected": 30}; kinds raw, '
                    "rejected, features, feedback, training_splits, reports, audit; 0 = for ever)")
    dask_scheduler_address: str = Field(
        default="", validation_alias=AliasChoices("DASK_SCHEDULER_ADDRESS", "dask_scheduler_address"),
        description="a running Dask cluster for --task-runner dask (empty: a local cluster per run)")
    source_dirs: str = Field(
        default="", validation_alias=AliasChoices("PIPELINE_SOURCE_DIRS", "source_dirs"),
        description="comma-separated folders a deployment's --source and --mapping must lie in (empty: the data "
                    "folder's sources/); a run started by hand on the command line may read any file its user can")
    source_max_rows: int = Field(
        default=2_000_000, ge=1, validation_alias=AliasChoices("PIPELINE_SOURCE_MAX_ROWS", "source_max_rows"),
        description="rows (or lines) read from one source file, at most")
    source_max_columns: int = Field(
        default=1_000, ge=1, validation_alias=AliasChoices("PIPELINE_SOURCE_MAX_COLUMNS", "source_max_columns"),
        description="columns of one source file, at most")
    source_max_bytes: int = Field(
        default=1_000_000_000, ge=1_000, validation_alias=AliasChoices("PIPELINE_SOURCE_MAX_BYTES",
                                                                        "source_max_bytes"),
        description="bytes of one source file once decompressed (a Parquet file's data in memory), at most")
    server_timeout_ms: int = Field(
        default=5000, ge=100, validation_alias=AliasChoices("MONGO_TIMEOUT_MS", "server_timeout_ms")
    )

    def resolved(self, path: Path) -> Path:
        """Relative folders are taken from the project root, not from wherever the process started."""
        return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()

    @property
    def data_path(self) -> Path:
        """The data folder, absolute."""
        return self.resolved(self.data_dir)

    @property
    def source_paths(self) -> list[Path]:
        """The folders a deployment's source files must lie in, absolute."""
        named = [part.strip() for part in self.source_dirs.split(",") if part.strip()]
        return [self.resolved(Path(p).expanduser()).resolve() for p in named] or [self.data_path / "sources"]

    @property
    def artifacts_path(self) -> Path:
        """The artifacts folder, absolute."""
        return self.resolved(self.artifacts_dir)

    @property
    def dashboard_base(self) -> str:
        """The dashboard's address for links: PIPELINE_DASHBOARD_URL, or the service's own."""
        return (self.dashboard_url or f"http://{self.api_host}:{self.api_port}/dashboard").rstrip("/")

    def dashboard_link(self, path: str) -> str:
        """The http address of a dashboard page or kept file (``path`` below the dashboard, quoted)."""
        from urllib.parse import quote

        return f"{self.dashboard_base}/{quote(path)}"

    @property
    def local_mongo_path(self) -> Path:
        """The local MongoDB server's folder."""
        return self.data_path / "mongo"

    @property
    def raw_path(self) -> Path:
        """Where generated batches are kept as JSON Lines."""
        return self.data_path / "raw"

    @property
    def export_path(self) -> Path:
        """Where batches' features are exported."""
        return self.data_path / "features"


def get_settings() -> Settings:
    """Read the settings now (never at import), so tests and deployments can change the environment first."""
    return Settings()
