"""Checks docker-compose.yml as `docker-compose config` resolved it.

Usage: check_compose.py RESOLVED_YAML REPO_ROOT

No Docker engine is needed: this reads the resolved file and the repository.
Every failed check is printed; the exit status is the number of failures (capped).
"""

import pathlib
import re
import sys

import yaml

# The services behind the gateway: scalable, so never a fixed name or host port.
SCALABLE = {
    "auth-service": 8081,
    "event-service": 8082,
    "booking-service": 8083,
    "waitlist-service": 8084,
    "notification-service": 8085,
}
GATEWAY = ("gateway-service", 8080)
# Only these may publish a port on the host, and only this one.
PUBLISHED = {"gateway-service": 8080, "mailpit": 8025, "jaeger": 16686, "prometheus": 9090}
INFRA = {"postgres", "kafka", "mongo", "mailpit", "jaeger", "prometheus"}
# The services whose store is PostgreSQL; the event service's is MongoDB.
DB_SERVICES = ["auth", "booking", "waitlist", "notification"]

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def host_ports(service):
    """Host ports a service publishes; `docker-compose config` may give strings or dicts."""
    out = []
    for port in service.get("ports", []) or []:
        if isinstance(port, dict):
            if port.get("published") not in (None, ""):
                out.append(int(port["published"]))
        else:
            text = str(port)
            parts = text.split("/")[0].split(":")
            if len(parts) >= 2 and parts[-2]:
                out.append(int(parts[-2]))
            else:
                # "8080" alone publishes on an ephemeral host port: still a host port.
                out.append(int(parts[-1]))
    return out


def env_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def depends(service):
    dep = service.get("depends_on") or {}
    if isinstance(dep, list):
        return {name: "service_started" for name in dep}
    return {name: (cond or {}).get("condition", "service_started") for name, cond in dep.items()}


def bin_names(root):
    names = set()
    for manifest in root.glob("services/*/Cargo.toml"):
        text = manifest.read_text()
        for block in re.findall(r"\[\[bin\]\](.*?)(?=\n\[|\Z)", text, re.S):
            match = re.search(r'name\s*=\s*"([^"]+)"', block)
            if match:
                names.add(match.group(1))
    return names


def main():
    resolved = yaml.safe_load(pathlib.Path(sys.argv[1]).read_text())
    root = pathlib.Path(sys.argv[2])
    services = resolved.get("services", {})

    # 1. The six services, each running one of the workspace's binaries.
    bins = bin_names(root)
    check(len(bins) == 6, f"expected six [[bin]] targets in services/*/Cargo.toml, found {sorted(bins)}")
    expected = set(SCALABLE) | {GATEWAY[0]}
    check(expected <= bins, f"compose service names {sorted(expected - bins)} are not binaries")
    for name in sorted(expected):
        svc = services.get(name)
        if not check(svc is not None, f"{name}: missing from docker-compose.yml"):
            continue
        command = svc.get("command") or []
        if isinstance(command, str):
            command = command.split()
        check(command[:1] == [name], f"{name}: command should run the {name} binary, got {command}")
        check("build" in svc, f"{name}: should be built from the Dockerfile")
        prefix = name.split("-")[0].upper()
        env = env_of(svc)
        check(env.get(f"{prefix}__HTTP__HOST") == "0.0.0.0",
              f"{name}: {prefix}__HTTP__HOST must be 0.0.0.0 or nothing outside the container reaches it")
        check(env.get(f"{prefix}__TELEMETRY__OTLP_ENDPOINT", "").startswith("http://jaeger:4318"),
              f"{name}: traces should go to jaeger over OTLP/HTTP")
        check(env.get("KAFKA_BROKERS") == "kafka:9092", f"{name}: KAFKA_BROKERS should be kafka:9092")
        if prefix.lower() in DB_SERVICES:
            check(env.get("DATABASE_URL", "").startswith("postgres://") and "@postgres:5432/" in env.get("DATABASE_URL", ""),
                  f"{name}: DATABASE_URL should name the postgres server")
        elif prefix == "EVENT":
            check("DATABASE_URL" not in env, f"{name}: its store is MongoDB, so no DATABASE_URL")
        test = (svc.get("healthcheck") or {}).get("test") or []
        joined = " ".join(test) if isinstance(test, list) else str(test)
        check("/health" in joined, f"{name}: needs a healthcheck on /health")

    # 2. Scalable: no fixed name, no host port.
    for name, svc in sorted(services.items()):
        check("container_name" not in svc,
              f"{name}: container_name prevents `docker-compose up --scale {name}=N`")
    for name in sorted(SCALABLE):
        svc = services.get(name, {})
        check(not host_ports(svc), f"{name}: publishes host port(s) {host_ports(svc)}; it cannot be scaled")
        check(not svc.get("hostname"), f"{name}: a fixed hostname defeats DNS balancing")

    # 3. Only the gateway and the tools' UIs are published, each on its own port.
    for name, svc in sorted(services.items()):
        ports = host_ports(svc)
        if name in PUBLISHED:
            check(ports == [PUBLISHED[name]], f"{name}: should publish exactly {PUBLISHED[name]}, got {ports}")
        else:
            check(not ports, f"{name}: should not publish host ports, got {ports}")

    # 4. Infrastructure: the pieces the design asks for.
    for name in sorted(INFRA):
        check(name in services, f"{name}: missing")
    kafka = services.get("kafka", {})
    check("apache/kafka" in str(kafka.get("image", "")), "kafka: should be Apache Kafka")
    local_kafka = re.search(r"<kafka.version>(.+)</kafka.version>", (root / "deploy/kafka-local/pom.xml").read_text()).group(1)
    check(str(kafka.get("image", "")).endswith(":" + local_kafka),
          f"kafka: should run the local stack's Kafka {local_kafka} (deploy/kafka-local/pom.xml), got {kafka.get('image')}")
    kenv = env_of(kafka)
    check("controller" in kenv.get("KAFKA_PROCESS_ROLES", ""), "kafka: should run in KRaft mode (process roles incl. controller)")
    check("ZOOKEEPER" not in " ".join(kenv), "kafka: no ZooKeeper in KRaft mode")
    check(env_of(services.get("event-service", {})).get("MONGODB_URI", "").startswith("mongodb://mongo:27017"),
          "event-service: MONGODB_URI should point at the mongo service")
    check(env_of(services.get("notification-service", {})).get("SMTP_URL") == "smtp://mailpit:1025",
          "notification-service: SMTP_URL should be smtp://mailpit:1025")
    booking_env = env_of(services.get("booking-service", {}))
    notification_env = env_of(services.get("notification-service", {}))
    check(booking_env.get("BOOKING__INTERNAL_TOKEN")
          and booking_env.get("BOOKING__INTERNAL_TOKEN") == notification_env.get("NOTIFICATION__INTERNAL_TOKEN"),
          "booking and notification must share the internal service token")
    for name in ("waitlist", "notification"):
        check(env_of(services.get(f"{name}-service", {})).get(f"{name.upper()}__BOOKING_URL") == "http://booking-service:8083",
              f"{name}-service: {name.upper()}__BOOKING_URL should be http://booking-service:8083")
    gw_env = env_of(services.get(GATEWAY[0], {}))
    for name, port in SCALABLE.items():
        key = f"GATEWAY__UPSTREAMS__{name.split('-')[0].upper()}"
        check(gw_env.get(key) == f"http://{name}:{port}",
              f"gateway-service: {key} should be the DNS name http://{name}:{port} (re-resolved, so --scale works)")

    # 5. Start-up ordering on health, not on mere start.
    for name in sorted(SCALABLE):
        deps = depends(services.get(name, {}))
        store = "postgres" if name.split("-")[0] in DB_SERVICES else "mongo"
        for infra in (store, "kafka"):
            check(deps.get(infra) == "service_healthy", f"{name}: should wait for {infra} to be healthy")
    gw_deps = depends(services.get(GATEWAY[0], {}))
    for name in sorted(SCALABLE):
        check(gw_deps.get(name) == "service_healthy", f"gateway-service: should wait for {name} to be healthy")
    for name in ("postgres", "kafka", "mongo", "mailpit"):
        check("healthcheck" in services.get(name, {}), f"{name}: needs a healthcheck (others wait on it)")

    # 6. One database per service, created on first start.
    init = root / "deploy" / "postgres-init"
    sql = " ".join(p.read_text() for p in sorted(init.glob("*.sql"))) if init.is_dir() else ""
    for svc in DB_SERVICES:
        check(re.search(rf"CREATE DATABASE\s+evently_{svc}\b", sql, re.I),
              f"deploy/postgres-init: no CREATE DATABASE evently_{svc}")
    pg = services.get("postgres", {})
    check(any("docker-entrypoint-initdb.d" in str(v) for v in pg.get("volumes", [])),
          "postgres: the init scripts are not mounted at /docker-entrypoint-initdb.d")

    # 7. Prometheus scrapes every service, by DNS so scaled instances are found.
    prom = yaml.safe_load((root / "deploy" / "prometheus.yml").read_text())
    scraped = {}
    for job in prom.get("scrape_configs", []):
        for sd in job.get("dns_sd_configs", []):
            for n in sd.get("names", []):
                scraped[n] = sd.get("port")
    for name, port in list(SCALABLE.items()) + [GATEWAY]:
        check(scraped.get(name) == port, f"deploy/prometheus.yml: {name}:{port} is not scraped by DNS discovery")

    # 8. The Dockerfile: multi-stage, cached dependency layer, slim runtime, non-root.
    dockerfile = (root / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", dockerfile, re.M | re.I)
    check(len(stages) >= 3, f"Dockerfile: expected a multi-stage build, found {len(stages)} stage(s)")
    check("cargo chef cook" in dockerfile, "Dockerfile: no cached dependency layer (cargo chef cook)")
    check(re.search(r"^FROM\s+debian:\S*slim", dockerfile, re.M | re.I) or "-slim" in dockerfile,
          "Dockerfile: runtime should be a slim image")
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    check(users and not users[-1].startswith(("root", "0")), "Dockerfile: the runtime must not run as root")
    ignore = (root / ".dockerignore").read_text() if (root / ".dockerignore").exists() else ""
    check("target" in ignore, ".dockerignore: the cargo target directory must stay out of the build context")

    # 9. Nothing the build embeds (include_str!, include_bytes!, migrations) is
    #    kept out of the build context by .dockerignore.
    ignored = [line.strip().rstrip("/").lstrip("/").replace("**/", "") for line in ignore.splitlines()
               if line.strip() and not line.startswith("#")]
    def excluded(rel):
        parts = pathlib.PurePosixPath(rel).parts
        for pat in ignored:
            if pat.startswith("*."):
                if rel.endswith(pat[1:]):
                    return pat
            elif rel == pat or rel.startswith(pat + "/") or pat in parts:
                return pat
        return None
    embedded = 0
    for src in list(root.glob("services/*/src/**/*.rs")) + list(root.glob("crates/*/src/**/*.rs")) + list(root.glob("load-simulator/src/**/*.rs")):
        for m in re.finditer(r'include_(?:str|bytes)!\(\s*"([^"]+)"\s*\)', src.read_text()):
            target = (src.parent / m.group(1)).resolve()
            rel = target.relative_to(root.resolve()).as_posix()
            embedded += 1
            pat = excluded(rel)
            check(pat is None, f".dockerignore pattern {pat!r} excludes {rel}, which {src.relative_to(root)} embeds")
    for mig in root.glob("services/*/migrations"):
        rel = mig.relative_to(root).as_posix()
        check(excluded(rel) is None, f".dockerignore excludes {rel} (embedded by sqlx::migrate!)")
    check(embedded > 0, "found no include_str!/include_bytes! at all: is the scan broken?")

    for message in failures:
        print(f"FAIL {message}")
    if not failures:
        print(f"ok: {len(services)} compose services checked "
              f"({len(SCALABLE)} scalable, published {sorted(PUBLISHED.values())})")
    return min(len(failures), 100)


if __name__ == "__main__":
    sys.exit(main())
