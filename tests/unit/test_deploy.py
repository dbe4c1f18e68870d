"""deploy/: the compose stack agrees with the code it runs.

No container engine runs here, so the compose file is checked as data (PyYAML resolves its anchors and
merge keys; `${VAR...}` references are rendered with the values of env.template, as compose would with a
deploy/.env copied from it) against the settings, the catalog, the CLI, the Dagster instance schema and the
Prometheus configuration. When a Docker Compose binary is on PATH, the last tests also let compose itself
parse and interpolate the file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from pricing_platform.core import roles
from pricing_platform.core.catalog import TOPICS, Stream
from pricing_platform.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_TEMPLATE = DEPLOY / "env.template"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
INITDB = DEPLOY / "postgres" / "initdb"

SETTINGS = frozenset(name.upper() for name in Settings.model_fields)

PLATFORM_SERVICES = frozenset(
    {
        "init",
        *(f"ingest-{s.value}" for s in Stream),
        "price-feed-relay",
        "stream-processor",
        "ingest-stream-outputs",
        "repricer",
        "simulators",
        "dagster-webserver",
        "dagster-daemon",
        "dashboard",
    }
)
ONE_SHOT = frozenset({"init", "minio-init"})
# Variables third-party images read, by service; the platform's services may set settings only.
THIRD_PARTY_ENV: dict[str, tuple[str, ...]] = {
    "kafka": ("KAFKA_", "CLUSTER_ID"),
    "postgres": ("POSTGRES_",),
    "minio": ("MINIO_",),
    "minio-init": ("MINIO_",),
    "postgres-exporter": ("DATA_SOURCE_NAME",),
    "grafana": ("GF_",),
}
# Dagster's own variable (where its instance lives), not a setting of the platform.
DAGSTER_ENV = frozenset({"DAGSTER_HOME"})
# Variables of compose.yaml itself (${...}), read by no process as such.
COMPOSE_VARIABLES = frozenset(
    {
        "PLATFORM_IMAGE",
        # passwords of the database roles, composed into the URLs and read by postgres/initdb/
        "PLATFORM_DB_PASSWORD",
        "EXPORTER_DB_PASSWORD",
        "DASHBOARD_DB_PASSWORD",
        "APPROVALS_DB_PASSWORD",
        *(f"INGEST_{s.value.upper()}_REPLICAS" for s in Stream),
        "PRICE_FEED_RELAY_REPLICAS",
    }
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN")
REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
WHOLE_REFERENCE = re.compile(rf"^{REFERENCE.pattern}$")
URL_USERINFO = re.compile(r"://(?P<user>[^:/@\s]+):(?P<password>[^@\s]+)@")


# --- reading the files -------------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def service(name: str) -> dict[str, Any]:
    assert name in services(), f"compose.yaml has no service {name!r}"
    return services()[name]


@cache
def template() -> dict[str, str | None]:
    """Every variable env.template names → its value (None when the line is commented out)."""
    found: dict[str, str | None] = {}
    for line in ENV_TEMPLATE.read_text().splitlines():
        match = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            found[match[2]] = None if match[1] else match[3]
    return found


def template_values() -> dict[str, str]:
    return {name: value for name, value in template().items() if value is not None}


def render(value: Any, env: Mapping[str, str] | None = None) -> str:
    """A compose value with its ${...} resolved as compose would, from env.template's values."""
    env = template_values() if env is None else env

    def resolve(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        value = env.get(name)
        if op == ":-":
            return value or arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?"):
            assert value, f"compose requires {name}: {arg}"
            return value
        return value or ""

    return REFERENCE.sub(resolve, str(value))


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    assert isinstance(env, dict), "environment must be a mapping (KEY: value)"
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command(svc: dict[str, Any]) -> list[str]:
    cmd = svc.get("command")
    assert isinstance(cmd, list), "commands are exec-form lists"
    return [str(part) for part in cmd]


def url_port(text: str) -> int:
    match = re.search(r"https?://[^/:\s]+:(\d+)", text)
    assert match, f"no http://host:port in {text!r}"
    return int(match[1])


def healthcheck_port(svc: dict[str, Any]) -> int:
    return url_port(" ".join(str(part) for part in svc["healthcheck"]["test"]))


def default(field: str) -> Any:
    return Settings.model_fields[field].default


def all_strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from all_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_strings(item)
    elif node is not None:
        yield str(node)


# --- the services and their environment ----------------------------------------------------------------


def test_the_platform_services_run_the_image_built_from_the_dockerfile() -> None:
    built = {name for name, svc in services().items() if "build" in svc}
    assert built == {"init"}, "one service builds the platform image; the others run the same tag"
    assert service("init")["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    image = service("init")["image"]
    assert {name for name, svc in services().items() if svc.get("image") == image} == PLATFORM_SERVICES


def test_platform_services_set_only_real_settings() -> None:
    for name in PLATFORM_SERVICES:
        allowed = SETTINGS | (DAGSTER_ENV if name.startswith("dagster-") else frozenset())
        unknown = set(environment(service(name))) - allowed
        assert not unknown, f"{name} sets variables that no setting reads: {sorted(unknown)}"


def test_third_party_services_set_only_their_images_variables() -> None:
    initdb_text = "\n".join(p.read_text() for p in sorted(INITDB.iterdir()))
    for name, prefixes in THIRD_PARTY_ENV.items():
        for var in environment(service(name)):
            if var.startswith(prefixes) or (name == "minio-init" and var in SETTINGS):
                continue
            # Anything else handed to postgres must be read by its init scripts.
            assert name == "postgres" and f"${var}" in initdb_text, f"{name}: {var} is read by nothing"


def test_every_template_variable_is_a_setting_an_image_variable_or_a_compose_variable() -> None:
    third_party = {
        var
        for name, prefixes in THIRD_PARTY_ENV.items()
        for var in environment(service(name))
        if var.startswith(prefixes)
    }
    unknown = set(template()) - SETTINGS - third_party - COMPOSE_VARIABLES
    assert not unknown, f"env.template lists variables nothing reads: {sorted(unknown)}"


def test_template_and_compose_name_the_same_variables() -> None:
    text = "\n".join(all_strings(compose()))  # values only: comments may mention ${VAR:?}
    referenced = {m["name"] for m in REFERENCE.finditer(text)}
    assert referenced - set(template()) == set(), "compose reads variables env.template does not document"
    assert set(template()) - referenced == set(), "env.template lists variables compose.yaml never reads"
    required = {m["name"] for m in REFERENCE.finditer(text) if m["op"] in (":?", "?")}
    missing = {name for name in required if not template().get(name)}
    assert not missing, f"required by compose but without a value in env.template: {sorted(missing)}"


def test_no_literal_secrets() -> None:
    for name, svc in services().items():
        for var, value in environment(svc).items():
            if SECRET_NAME.search(var):
                assert WHOLE_REFERENCE.match(value), f"{name}: {var} must come from deploy/.env as ${{...}}"
            for match in URL_USERINFO.finditer(value):
                assert WHOLE_REFERENCE.match(match["password"]), f"{name}: password literal in {var}"
    # Nor anywhere else (commands, healthchecks): no placeholder or template secret appears verbatim.
    text = "\n".join(all_strings(compose()))
    for var, value in template_values().items():
        if SECRET_NAME.search(var) and value:
            assert value not in text, f"the value of {var} is written in compose.yaml"
    assert "change-me" not in text


def test_template_holds_placeholders_only() -> None:
    for var, value in template_values().items():
        if SECRET_NAME.search(var):
            assert value in ("", "change-me"), f"env.template: {var} must be a change-me placeholder"


def test_containers_listen_on_all_interfaces_and_never_start_the_embedded_servers() -> None:
    for name in PLATFORM_SERVICES:
        env = environment(service(name))
        assert env.get("LOCAL_BIND_HOST") == "0.0.0.0", f"{name}: metrics/UIs must bind 0.0.0.0 inside"
        for flag in ("LOCAL_POSTGRES", "LOCAL_BROKER", "LOCAL_S3"):
            assert env.get(flag) == "false", f"{name}: {flag} must be false"


def test_platform_processes_reach_the_compose_servers() -> None:
    kafka_env = environment(service("kafka"))
    advertised = dict(
        reversed(listener.split("://", 1)) for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    for name in PLATFORM_SERVICES - {"dashboard", "dagster-webserver", "dagster-daemon"}:
        env = environment(service(name))
        assert render(env["KAFKA_BOOTSTRAP_SERVERS"]) in advertised, f"{name}: not the broker's listener"
    for name in PLATFORM_SERVICES - {"simulators", "dashboard"}:
        url = render(environment(service(name))["DATABASE_URL"])
        assert re.match(r"postgresql://pricing:[^@]+@postgres:5432/pricing$", url), f"{name}: {url}"


# --- streams, topics, ports ----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", list(Stream))
def test_each_stream_has_its_scalable_worker_service(stream: Stream) -> None:
    svc = service(f"ingest-{stream.value}")
    assert command(svc) == ["pricing-platform", "ingest", stream.value]
    assert "container_name" not in svc, "a fixed container name prevents --scale"
    assert "ports" not in svc, "host ports prevent --scale (and metrics stay inside the network)"
    replicas = int(render(svc["deploy"]["replicas"]))
    assert 1 <= replicas <= TOPICS[stream].partitions, "replicas beyond the partitions sit idle"


@pytest.mark.parametrize("stream", list(Stream))
def test_worker_metrics_ports_follow_the_settings(stream: Stream) -> None:
    svc = service(f"ingest-{stream.value}")
    base = int(environment(svc).get("INGEST_METRICS_PORT", default("ingest_metrics_port")))
    assert base == default("ingest_metrics_port")
    # The CLI serves on INGEST_METRICS_PORT + the stream's index (pricing_platform/cli.py `ingest`).
    port = base + list(Stream).index(stream)
    assert [int(p) for p in svc["expose"]] == [port]
    assert healthcheck_port(svc) == port


def test_simulators_are_demo_data_with_their_metrics_port() -> None:
    svc = service("simulators")
    assert svc.get("profiles") == ["demo"], "production does not produce simulated events"
    assert command(svc)[:3] == ["pricing-platform", "simulate", "market"], "the price-responsive market"
    port = int(environment(svc).get("SIMULATOR_METRICS_PORT", default("simulator_metrics_port")))
    assert port == default("simulator_metrics_port")
    assert [int(p) for p in svc["expose"]] == [port]
    assert healthcheck_port(svc) == port


def test_topics_come_from_the_platform_not_from_broker_auto_creation() -> None:
    assert environment(service("kafka"))["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    script = " ".join(command(service("init")))
    # `topics create` creates the catalog's topics with their partition counts and checks existing ones.
    assert "pricing-platform topics create" in script
    assert script.index("pricing-platform db migrate") < script.index("pricing-platform topics create")
    env = environment(service("init"))
    assert int(render(env["TOPIC_REPLICATION_FACTOR"])) == 1, "one broker cannot hold more replicas"


def test_host_ports_bind_to_loopback_only() -> None:
    for name, svc in services().items():
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is reachable from other hosts"


def test_ui_ports_agree_with_the_settings() -> None:
    web = service("dagster-webserver")
    port = default("dagster_port")
    cmd = command(web)
    assert cmd[cmd.index("-p") + 1] == str(port) and cmd[cmd.index("-h") + 1] == "0.0.0.0"
    assert int(environment(web)["DAGSTER_PORT"]) == port
    assert web["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert healthcheck_port(web) == port

    dash = service("dashboard")
    port = default("dashboard_port")
    cmd = command(dash)
    assert cmd[:2] == ["pricing-platform", "dashboard"]
    assert cmd[cmd.index("--port") + 1] == str(port) and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert int(environment(dash)["DASHBOARD_PORT"]) == port
    assert dash["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert healthcheck_port(dash) == port

    # Grafana listens on 3000 inside; on the host it gets 3001, Dagster's port being 3000.
    assert service("grafana")["ports"] == ["127.0.0.1:3001:3000"]


def test_dashboard_never_holds_the_owners_credentials() -> None:
    env = environment(service("dashboard"))
    assert "DATABASE_URL" not in env
    assert render(env["DASHBOARD_DATABASE_URL"]).startswith("postgresql://pricing_dashboard:")
    assert render(env["APPROVALS_DATABASE_URL"]).startswith("postgresql://pricing_approver:")
    # The init job's `db migrate` reads the same URLs (it sets their passwords wherever it may manage roles).
    init = environment(service("init"))
    for var in ("DASHBOARD_DATABASE_URL", "APPROVALS_DATABASE_URL"):
        assert init[var] == env[var]


# --- one-shot jobs and start order ------------------------------------------------------------------------


def test_one_shot_jobs_exit_without_restart_and_dependants_wait_for_success() -> None:
    for name, svc in services().items():
        if name in ONE_SHOT:
            assert svc.get("restart") == "no", f"{name} would restart in a loop"
        else:
            assert svc.get("restart") == "unless-stopped", f"{name} must come back after a crash"
        for dependency, condition in (svc.get("depends_on") or {}).items():
            assert dependency in services()
            if dependency in ONE_SHOT:
                assert condition["condition"] == "service_completed_successfully", f"{name} → {dependency}"
    for name in PLATFORM_SERVICES - {"init"}:
        assert service(name)["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert service("minio-init")["depends_on"]["minio"]["condition"] == "service_healthy"
    for dependency in ("postgres", "kafka"):
        assert service("init")["depends_on"][dependency]["condition"] == "service_healthy"


def test_long_running_servers_have_healthchecks_that_depends_on_can_use() -> None:
    for name, svc in services().items():
        if name in ONE_SHOT or name == "postgres-exporter":  # that image has no shell or HTTP client
            continue
        assert "healthcheck" in svc, f"{name} has no healthcheck"
        for dependency, condition in (svc.get("depends_on") or {}).items():
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in service(dependency), f"{name} waits for {dependency}'s health"


# --- lake, Dagster -------------------------------------------------------------------------------------


def test_lake_bucket_is_created_where_dagster_writes() -> None:
    dagster = environment(service("dagster-daemon"))
    assert dagster["LAKE_BACKEND"] == "s3"
    assert render(dagster["S3_ENDPOINT_URL"]) == "http://minio:9000"
    init = service("minio-init")
    assert environment(init)["LAKE_BUCKET"] == dagster["LAKE_BUCKET"]
    assert render(dagster["LAKE_BUCKET"]) == default("lake_bucket")
    script = "\n".join(command(init))
    assert 'mc mb --ignore-existing "lake/$$LAKE_BUCKET"' in script
    # The platform's S3 user is created with the very credentials Dagster uses.
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert environment(init)[var] == dagster[var]
        assert f"$${var}" in script


def test_dagster_webserver_and_daemon_share_one_instance() -> None:
    web, daemon = service("dagster-webserver"), service("dagster-daemon")
    assert environment(web) == environment(daemon)
    assert web["volumes"] == daemon["volumes"]
    env = environment(daemon)
    assert render(env["DAGSTER_DATABASE_URL"]).endswith("@postgres:5432/dagster")
    assert render(env["PUSHGATEWAY_URL"]) == f"http://pushgateway:{default('pushgateway_port')}"
    home = PurePosixPath(env["DAGSTER_HOME"])
    mounts = {}
    for volume in daemon["volumes"]:
        source, target, *_ = volume.split(":")
        mounts[PurePosixPath(target)] = source
    assert mounts[home / "dagster.yaml"] == "./dagster/dagster.yaml"
    assert mounts[home / "workspace.yaml"] == "./dagster/workspace.yaml"
    for svc in (web, daemon):
        cmd = command(svc)
        assert cmd[cmd.index("-w") + 1] == str(home / "workspace.yaml")
    assert command(daemon)[:2] == ["dagster-daemon", "run"]
    assert command(web)[0] == "dagster-webserver"


def test_dagster_instance_config_is_valid_and_stores_in_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._core.instance.config import dagster_instance_config

    config_text = (DEPLOY / "dagster" / "dagster.yaml").read_text()
    (tmp_path / "dagster.yaml").write_text(config_text)
    monkeypatch.setenv("DAGSTER_DATABASE_URL", "postgresql://pricing:x@postgres:5432/dagster")
    config, _ = dagster_instance_config(str(tmp_path))  # raises on anything the schema rejects
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_DATABASE_URL"}}}
    assert "DAGSTER_DATABASE_URL" in SETTINGS
    # Compute logs on the volume both containers mount, so the UI shows the daemon's run logs.
    home = PurePosixPath(environment(service("dagster-daemon"))["DAGSTER_HOME"])
    storage = [v.split(":")[1] for v in service("dagster-daemon")["volumes"] if not v.startswith("./")]
    assert PurePosixPath(config["compute_logs"]["config"]["base_dir"]).is_relative_to(storage[0])
    assert PurePosixPath(storage[0]).is_relative_to(home)


def test_the_local_stack_uses_the_deployment_instance_config_with_local_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._core.instance.config import dagster_instance_config

    from pricing_platform.localstack.stack import dagster_instance_yaml

    deployed = yaml.safe_load((DEPLOY / "dagster" / "dagster.yaml").read_text())
    local_text = dagster_instance_yaml(tmp_path)
    local = yaml.safe_load(local_text)
    assert local["compute_logs"]["config"]["base_dir"] == str(tmp_path / "storage" / "compute_logs")
    assert local["local_artifact_storage"]["config"]["base_dir"] == str(tmp_path / "storage")
    for key in ("compute_logs", "local_artifact_storage"):
        local[key]["config"].pop("base_dir")
        deployed[key]["config"].pop("base_dir")
    assert local == deployed, "only the storage paths differ"
    (tmp_path / "dagster.yaml").write_text(local_text)
    monkeypatch.setenv("DAGSTER_DATABASE_URL", "postgresql://pricing@127.0.0.1:55432/dagster")
    dagster_instance_config(str(tmp_path))  # raises on anything the schema rejects


def test_dagster_workspace_loads_the_platform_definitions() -> None:
    workspace = yaml.safe_load((DEPLOY / "dagster" / "workspace.yaml").read_text())
    modules = [entry["python_module"]["module_name"] for entry in workspace["load_from"]]
    assert modules == ["pricing_platform.definitions", "pricing_platform.pricing_definitions"]
    assert all(importlib.util.find_spec(module) is not None for module in modules)


# --- PostgreSQL ----------------------------------------------------------------------------------------


def test_postgres_init_creates_the_databases_and_roles_the_urls_name() -> None:
    svc = service("postgres")
    assert "./postgres/initdb:/docker-entrypoint-initdb.d:ro" in svc["volumes"]
    script = (INITDB / "10-platform.sh").read_text()
    for statement in (
        "CREATE ROLE pricing LOGIN PASSWORD",
        "CREATE DATABASE pricing OWNER pricing",
        "CREATE DATABASE dagster OWNER pricing",
        "CREATE ROLE pricing_exporter LOGIN",
        f"CREATE ROLE {roles.DASHBOARD_READER} LOGIN PASSWORD :'dashboard_password'",
        f"CREATE ROLE {roles.PRICE_APPROVER} LOGIN PASSWORD :'approvals_password'",
    ):
        assert statement in script
    # The owner, which workers and Dagster run as, cannot create or grant roles.
    assert "CREATEROLE" not in script.split("SQL", 1)[1]
    for variable in ("DASHBOARD_DB_PASSWORD", "APPROVALS_DB_PASSWORD"):
        assert environment(svc)[variable] == f"${{{variable}:?set {variable} in deploy/.env}}"
    assert "IN ROLE pg_monitor" in script
    assert "-v ON_ERROR_STOP=1" in script
    exporter = render(environment(service("postgres-exporter"))["DATA_SOURCE_NAME"])
    assert exporter.startswith("postgresql://pricing_exporter:") and "@postgres:5432/" in exporter


# --- monitoring ------------------------------------------------------------------------------------------


def _prometheus_host_path(container_path: str) -> Path:
    svc = service("prometheus")
    for volume in svc["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith("./") and PurePosixPath(container_path).is_relative_to(target):
            return DEPLOY / source / PurePosixPath(container_path).relative_to(target)
    raise AssertionError(f"{container_path} is not inside a directory mounted into prometheus")


@cache
def prometheus_config() -> dict[str, Any]:
    flags = [part for part in command(service("prometheus")) if part.startswith("--config.file=")]
    assert flags == ["--config.file=/etc/prometheus/prometheus.yml"]
    path = _prometheus_host_path(flags[0].split("=", 1)[1])
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} is not written yet (the metrics work commits it)")
    return yaml.safe_load(path.read_text())


def test_prometheus_config_and_rules_exist_where_they_are_mounted() -> None:
    assert "./prometheus:/etc/prometheus:ro" in service("prometheus")["volumes"]
    config = prometheus_config()
    for rule_file in config.get("rule_files", []):
        assert _prometheus_host_path(rule_file).exists(), f"rule file {rule_file} is not in deploy/prometheus"


def _container_ports(name: str) -> set[int]:
    svc = service(name)
    ports = {int(p) for p in svc.get("expose", [])}
    for port in svc.get("ports", []):
        ports.add(int(str(port).rsplit(":", 1)[1]))
    return ports


def test_prometheus_scrapes_services_that_exist_on_their_ports() -> None:
    scraped: dict[str, str] = {}
    for job in prometheus_config()["scrape_configs"]:
        targets = [t for static in job.get("static_configs", []) for t in static["targets"]]
        targets += [f"{n}:{dns['port']}" for dns in job.get("dns_sd_configs", []) for n in dns["names"]]
        assert targets, f"job {job['job_name']} scrapes nothing"
        for target in targets:
            host, port = target.rsplit(":", 1)
            assert host in services(), f"job {job['job_name']}: no compose service {host}"
            assert int(port) in _container_ports(host), f"job {job['job_name']}: {host} does not serve {port}"
            scraped[host] = job["job_name"]
    serving = {f"ingest-{s.value}" for s in Stream} | {
        "simulators",
        "pushgateway",
        "postgres-exporter",
        "stream-processor",
        "ingest-stream-outputs",
        "repricer",
    }
    assert serving - set(scraped) == set(), "services serving metrics that Prometheus never scrapes"
    # Jobs are named after their services: the alert rules and dashboards select on `job`.
    assert all(job == host for host, job in scraped.items())


def test_grafana_is_provisioned_from_deploy_and_its_password_comes_from_the_env() -> None:
    svc = service("grafana")
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in svc["volumes"]
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in svc["volumes"]
    assert WHOLE_REFERENCE.match(environment(svc)["GF_SECURITY_ADMIN_PASSWORD"])
    providers = DEPLOY / "grafana" / "provisioning" / "dashboards"
    if not providers.exists():
        pytest.skip("deploy/grafana is not written yet (the metrics work commits it)")
    paths = [
        provider["options"]["path"]
        for f in sorted(providers.glob("*.y*ml"))
        for provider in yaml.safe_load(f.read_text())["providers"]
    ]
    assert paths and all(p == "/var/lib/grafana/dashboards" for p in paths)


# --- the image -----------------------------------------------------------------------------------------


def test_dockerfile_installs_the_lock_and_runs_unprivileged() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines() if not line.startswith("#")]
    assert "FROM python:3.11-slim" in lines
    text = "\n".join(lines)
    syncs = re.findall(r"uv sync[^&\n]*", text)
    assert syncs and all("--frozen" in sync and "--no-dev" in sync for sync in syncs), "exactly the lock"
    assert "pricing-platform dbt prepare" in text
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"
    assert text.index("dbt prepare") < text.index(f"USER {users[-1]}")


def test_dockerignore_keeps_local_state_out_but_not_what_the_image_copies() -> None:
    ignored = {
        line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines() if line and line[0] != "#"
    }
    assert {".venv", ".local", "test-artifacts", "dbt_project/target", ".git"} <= ignored
    copies = [line.split()[1:-1] for line in DOCKERFILE.read_text().splitlines() if line.startswith("COPY ")]
    for source in (s for sources in copies for s in sources):
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert source not in ignored, f"COPY {source}: excluded by .dockerignore"


# --- compose itself, when a Compose binary is at hand -------------------------------------------------------


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def _run_compose(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose binary here; the YAML checks above still ran")
    clean = {k: v for k, v in os.environ.items() if k not in template() and not k.startswith("COMPOSE_")}
    return subprocess.run(
        [*cli, "-f", str(COMPOSE), "--env-file", str(env_file), "--profile", "demo", *args],
        capture_output=True,
        text=True,
        env=clean,
        check=False,
        timeout=60,
    )


def test_compose_accepts_the_file_rendered_with_the_template() -> None:
    result = _run_compose(ENV_TEMPLATE, "config", "--format", "json")
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    resolved = json.loads(result.stdout)
    assert set(resolved["services"]) == set(services())
    for name, svc in resolved["services"].items():
        assert {k: str(v) for k, v in (svc.get("environment") or {}).items()} == {
            k: render(v) for k, v in environment(service(name)).items()
        }, f"{name}: this test renders ${{...}} differently from compose"


def test_compose_refuses_to_start_without_a_required_secret(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text(
        "".join(f"{k}={v}\n" for k, v in template_values().items() if k != "PLATFORM_DB_PASSWORD")
    )
    result = _run_compose(env_file, "config", "--quiet")
    assert "PLATFORM_DB_PASSWORD" in result.stderr and "missing" in result.stderr
