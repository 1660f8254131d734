#!/usr/bin/env python3
"""Generate a deterministic corpus of realistic docker-compose files for benchmarking.

    gen_compose_corpus.py OUTDIR [--files 2000] [--seed 1]

Each file is one project of a (fictional) trading platform: 3-25 services (a few files are
much larger) drawn from a palette of order gateways, market-data feeds, risk engines and the
usual infrastructure (postgres, redis, kafka, zookeeper, nginx, prometheus, grafana, ...).
Files vary from about 2 KB to 30 KB with a few larger ones, and mix the syntaxes real files
use: short and long port syntax (some bound to loopback), list and map environments with
`${VAR}` references and a few literal secrets, named and bind volumes, internal networks,
healthchecks, deploy resources, labels, logging and comments. 20% of the files factor common
settings into `x-` extension fields with anchors and `<<` merge keys (single and list merges).

Files are written to OUTDIR/pNNNN/compose.yaml (some docker-compose.yml). Standard library
only; the same seed always produces byte-identical output.
"""

import argparse
import os
import random
import re
import sys

# --------------------------------------------------------------------------------------------
# A tiny block-style YAML emitter with comments, anchors, aliases and merge keys.
# --------------------------------------------------------------------------------------------


class Comment:
    """A full-line comment; usable as a mapping key (the value is ignored) or a list item."""

    def __init__(self, text):
        self.text = text


class Merge:
    """The `<<` merge key: one alias (single merge) or several (list merge)."""

    def __init__(self, *names):
        self.names = names


class Alias:
    def __init__(self, name):
        self.name = name


class Anchored:
    def __init__(self, name, value):
        self.name = name
        self.value = value


class Q:
    """A scalar that must be double-quoted (ports, versions, anything YAML might retype)."""

    def __init__(self, text):
        self.text = str(text)


class Flow:
    """A short list written in flow style: ["CMD", "pg_isready"]."""

    def __init__(self, items):
        self.items = items


class Trailing:
    """A scalar with a trailing comment."""

    def __init__(self, value, comment):
        self.value = value
        self.comment = comment


PLAIN_OK = re.compile(r"^[A-Za-z0-9_./@+-][A-Za-z0-9_./@+=:, ${}()-]*$")
RETYPED = re.compile(
    r"^(?:true|false|yes|no|on|off|null|~|y|n|[-+]?[0-9][0-9_.:eE+-]*)$", re.IGNORECASE
)


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, Q):
        return quote(v.text)
    if isinstance(v, Alias):
        return "*" + v.name
    if isinstance(v, Flow):
        return "[" + ", ".join(scalar(Q(i) if isinstance(i, str) else i) for i in v.items) + "]"
    s = str(v)
    if (
        not PLAIN_OK.match(s)
        or RETYPED.match(s)
        or ": " in s
        or " #" in s
        or s.endswith(":")
        or s.startswith("${")
    ):
        return quote(s)
    return s


def is_collection(v):
    return isinstance(v, (dict, list))


def emit(node, indent, out):
    pad = " " * indent
    if isinstance(node, dict):
        if not node:
            out.append(pad + "{}")
        for k, v in node.items():
            if isinstance(k, Comment):
                out.append(pad + "# " + k.text)
                continue
            if isinstance(k, Merge):
                if len(k.names) == 1:
                    out.append(pad + "<<: *" + k.names[0])
                else:
                    out.append(pad + "<<: [" + ", ".join("*" + n for n in k.names) + "]")
                continue
            emit_entry(pad + k + ":", v, indent, out)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, Comment):
                out.append(pad + "# " + item.text)
            elif isinstance(item, dict) and item:
                sub = []
                emit(item, indent + 2, sub)
                sub[0] = pad + "- " + sub[0][indent + 2 :]
                out.extend(sub)
            elif isinstance(item, Trailing):
                out.append(pad + "- " + scalar(item.value) + "  # " + item.comment)
            else:
                out.append(pad + "- " + scalar(item))
    else:
        out.append(pad + scalar(node))


def emit_entry(head, v, indent, out):
    if isinstance(v, Anchored):
        head += " &" + v.name
        v = v.value
    if isinstance(v, Trailing):
        out.append(head + " " + scalar(v.value) + "  # " + v.comment)
    elif isinstance(v, dict) and not v:
        out.append(head + " {}")
    elif isinstance(v, list) and not v:
        out.append(head + " []")
    elif is_collection(v):
        out.append(head)
        emit(v, indent + 2, out)
    elif isinstance(v, str) and "\n" in v:
        out.append(head + " |")
        for line in v.rstrip("\n").split("\n"):
            out.append(" " * (indent + 2) + line if line else "")
    else:
        out.append(head + " " + scalar(v))


def dump(doc):
    out = []
    emit(doc, 0, out)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# The trading-platform palette.
# --------------------------------------------------------------------------------------------

REGISTRIES = ["registry.example.com/trading", "ghcr.io/acme-trading", "acme.azurecr.io/trading"]
VENUES = ["nasdaq", "nyse", "cme", "ice", "lse", "eurex", "cboe", "xetra", "binance", "coinbase",
          "kraken", "jpx", "hkex", "asx", "tsx", "bats", "iex", "euronext", "six", "sgx"]
REGIONS = ["ldn", "nyc", "chi", "fra", "tky", "sgp", "hkg"]
TEAMS = ["execution", "market-data", "risk", "platform", "quant", "middle-office", "sre"]
ENVS = ["dev", "staging", "uat", "prod", "perf", "dr"]

# kind -> (image repo or None for an in-house image, tags, container ports, weight)
INFRA = {
    "postgres": ("postgres", ["16.4-alpine", "16.4", "15.8", "14.13-bookworm", "16"], [5432], 8),
    "timescaledb": ("timescale/timescaledb", ["2.16.1-pg16", "latest-pg16"], [5432], 2),
    "redis": ("redis", ["7.4.0-alpine", "7.2", "7", "6.2.14"], [6379], 8),
    "kafka": ("confluentinc/cp-kafka", ["7.7.0", "7.6.1", "7.5.3"], [9092, 29092], 6),
    "zookeeper": ("confluentinc/cp-zookeeper", ["7.7.0", "7.6.1", "7.5.3"], [2181], 4),
    "schema-registry": ("confluentinc/cp-schema-registry", ["7.7.0", "7.6.1"], [8081], 2),
    "nginx": ("nginx", ["1.27.1-alpine", "1.27", "1.26.2", "stable-alpine", "mainline"], [80, 443], 6),
    "prometheus": ("prom/prometheus", ["v2.54.1", "v2.53.2", "v2.45.6"], [9090], 5),
    "grafana": ("grafana/grafana", ["11.2.0", "11.1.4", "10.4.8"], [3000], 5),
    "alertmanager": ("prom/alertmanager", ["v0.27.0", "v0.26.0"], [9093], 2),
    "node-exporter": ("prom/node-exporter", ["v1.8.2", "v1.7.0"], [9100], 2),
    "cadvisor": ("gcr.io/cadvisor/cadvisor", ["v0.49.1", "v0.47.2"], [8080], 1),
    "jaeger": ("jaegertracing/all-in-one", ["1.60", "1.57.0"], [16686, 4317], 2),
    "loki": ("grafana/loki", ["3.1.1", "2.9.10"], [3100], 2),
    "vault": ("hashicorp/vault", ["1.17.5", "1.16"], [8200], 2),
    "clickhouse": ("clickhouse/clickhouse-server", ["24.8", "24.3.7.30", "23.8-alpine"], [8123, 9000], 2),
    "rabbitmq": ("rabbitmq", ["3.13-management", "3.12.14-management-alpine"], [5672, 15672], 2),
    "minio": ("minio/minio", ["RELEASE.2024-08-29T01-40-52Z"], [9000, 9001], 1),
}
APPS = {
    "order-gateway": ([8080, 9464], 8),
    "fix-gateway": ([9878, 8080], 5),
    "market-data-feed": ([7001, 8080], 9),
    "risk-engine": ([8090, 9464], 7),
    "position-keeper": ([8091], 4),
    "pnl-calculator": ([8092], 4),
    "matching-engine": ([7100, 8080], 3),
    "smart-order-router": ([8093], 3),
    "algo-engine": ([8094], 3),
    "trade-capture": ([8095], 3),
    "settlement-service": ([8096], 2),
    "ref-data": ([8097], 3),
    "auth-service": ([8443], 3),
    "api-gateway": ([8000, 8443], 3),
    "audit-log-writer": ([8098], 2),
    "backoffice-ui": ([3001], 2),
    "fx-pricer": ([8099], 2),
    "margin-calculator": ([8100], 2),
}

HEALTH = {
    "postgres": ["CMD", "pg_isready", "-U", "trader", "-d", "trading"],
    "timescaledb": ["CMD", "pg_isready", "-U", "postgres"],
    "redis": ["CMD", "redis-cli", "ping"],
    "kafka": ["CMD-SHELL", "kafka-broker-api-versions --bootstrap-server localhost:9092 || exit 1"],
    "zookeeper": ["CMD-SHELL", "echo ruok | nc localhost 2181 | grep imok"],
    "schema-registry": ["CMD", "curl", "-fsS", "http://localhost:8081/subjects"],
    "nginx": ["CMD", "wget", "-qO-", "http://localhost/healthz"],
    "prometheus": ["CMD", "wget", "-qO-", "http://localhost:9090/-/healthy"],
    "grafana": ["CMD-SHELL", "wget -qO- http://localhost:3000/api/health || exit 1"],
    "vault": ["CMD", "vault", "status"],
    "clickhouse": ["CMD", "clickhouse-client", "--query", "SELECT 1"],
    "rabbitmq": ["CMD", "rabbitmq-diagnostics", "-q", "ping"],
    "minio": ["CMD", "curl", "-f", "http://localhost:9000/minio/health/live"],
}

DATA_DIRS = {
    "postgres": "/var/lib/postgresql/data",
    "timescaledb": "/var/lib/postgresql/data",
    "redis": "/data",
    "kafka": "/var/lib/kafka/data",
    "zookeeper": "/var/lib/zookeeper/data",
    "prometheus": "/prometheus",
    "grafana": "/var/lib/grafana",
    "loki": "/loki",
    "vault": "/vault/file",
    "clickhouse": "/var/lib/clickhouse",
    "rabbitmq": "/var/lib/rabbitmq",
    "minio": "/data",
    "alertmanager": "/alertmanager",
}

CONFIG_MOUNTS = {
    "nginx": [("./nginx/nginx.conf", "/etc/nginx/nginx.conf"), ("./nginx/conf.d", "/etc/nginx/conf.d"),
              ("./certs", "/etc/nginx/certs")],
    "prometheus": [("./prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml"),
                   ("./prometheus/rules", "/etc/prometheus/rules")],
    "grafana": [("./grafana/provisioning", "/etc/grafana/provisioning")],
    "alertmanager": [("./alertmanager/alertmanager.yml", "/etc/alertmanager/alertmanager.yml")],
    "loki": [("./loki/config.yaml", "/etc/loki/local-config.yaml")],
    "postgres": [("./db/init", "/docker-entrypoint-initdb.d")],
    "clickhouse": [("./clickhouse/config.d", "/etc/clickhouse-server/config.d")],
    "vault": [("./vault/config", "/vault/config")],
}


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.detail = 1.0

    def chance(self, p):
        return self.r.random() < p

    def opt(self, p):
        """Chance of an optional, descriptive section, scaled by the file's level of detail."""
        return self.r.random() < p * self.detail

    def pick(self, seq):
        return self.r.choice(seq)

    def hexs(self, n):
        return "".join(self.r.choice("0123456789abcdef") for _ in range(n))

    def token(self, n):
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
        return "".join(self.r.choice(alphabet) for _ in range(n))

    # -- images -----------------------------------------------------------------------------

    def image(self, kind):
        if kind in INFRA:
            repo, tags, _, _ = INFRA[kind]
            tag = self.pick(tags)
        else:
            base = kind if kind != "market-data-feed" else "md-feed"
            repo = self.pick(REGISTRIES) + "/" + base
            tag = "%d.%d.%d" % (self.r.randint(1, 6), self.r.randint(0, 30), self.r.randint(0, 12))
            if self.chance(0.1):
                tag += "-rc%d" % self.r.randint(1, 4)
        x = self.r.random()
        if x < 0.15:
            return repo + ":latest"
        if x < 0.20:
            return repo  # implicit latest
        if x < 0.35:
            return repo + "@sha256:" + self.hexs(64)
        if x < 0.45:
            return repo + ":" + tag + "@sha256:" + self.hexs(64)
        host, _, path = repo.partition("/")
        if x < 0.55 and "." in host and path:
            var = kind.upper().replace("-", "_") + "_TAG"
            return "${REGISTRY:-%s}/%s:${%s:-%s}" % (host, path, var, tag)
        return repo + ":" + tag

    # -- ports ------------------------------------------------------------------------------

    def ports(self, container_ports, offset):
        out = []
        for cp in container_ports:
            if self.chance(0.25):
                continue
            host = cp + offset if self.chance(0.4) else cp
            x = self.r.random()
            if x < 0.15:
                out.append({"target": cp, "published": Q(host), "host_ip": "127.0.0.1",
                            "protocol": "tcp", "mode": "host"})
            elif x < 0.25:
                out.append({"target": cp, "published": host, "protocol": self.pick(["tcp", "tcp", "udp"])})
            elif x < 0.45:
                out.append(Q("127.0.0.1:%d:%d" % (host, cp)))
            elif x < 0.55:
                out.append(Q(str(cp)))
            elif x < 0.62:
                out.append(Trailing(Q("0.0.0.0:%d:%d" % (host, cp)), "reachable from the LAN"))
            elif x < 0.68:
                out.append(Q("${BIND_ADDR:-127.0.0.1}:%d:%d" % (host, cp)))
            else:
                out.append(Q("%d:%d" % (host, cp)))
        if out and self.chance(0.1):
            out.append(Q("%d-%d:%d-%d/udp" % (30000 + offset, 30009 + offset, 30000, 30009)))
        return out

    # -- environment ------------------------------------------------------------------------

    def env_pairs(self, kind, name, project):
        r = self.r
        pairs = [("TZ", "UTC")]
        if kind in ("postgres", "timescaledb"):
            pairs += [("POSTGRES_USER", "trader"), ("POSTGRES_DB", "trading"),
                      ("PGDATA", "/var/lib/postgresql/data/pgdata")]
            if self.chance(0.12):
                pairs.append(("POSTGRES_PASSWORD", "Trd-" + self.token(14)))  # literal secret
            elif self.chance(0.5):
                pairs.append(("POSTGRES_PASSWORD", "${POSTGRES_PASSWORD}"))
            else:
                pairs.append(("POSTGRES_PASSWORD_FILE", "/run/secrets/db_password"))
        elif kind == "redis":
            pairs.append(("REDIS_ARGS", "--appendonly yes --maxmemory 512mb"))
        elif kind == "kafka":
            pairs += [("KAFKA_BROKER_ID", "1"),
                      ("KAFKA_ZOOKEEPER_CONNECT", "zookeeper:2181"),
                      ("KAFKA_ADVERTISED_LISTENERS",
                       "PLAINTEXT://kafka:29092,PLAINTEXT_HOST://localhost:9092"),
                      ("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                       "PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT"),
                      ("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT"),
                      ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1"),
                      ("KAFKA_LOG_RETENTION_HOURS", str(r.choice([24, 72, 168])))]
        elif kind == "zookeeper":
            pairs += [("ZOOKEEPER_CLIENT_PORT", "2181"), ("ZOOKEEPER_TICK_TIME", "2000")]
        elif kind == "grafana":
            pairs += [("GF_SECURITY_ADMIN_USER", "admin"),
                      ("GF_USERS_ALLOW_SIGN_UP", "false"),
                      ("GF_SERVER_ROOT_URL", "https://grafana.%s.example.com" % project)]
            if self.chance(0.15):
                pairs.append(("GF_SECURITY_ADMIN_PASSWORD", "admin-" + self.token(8)))
            else:
                pairs.append(("GF_SECURITY_ADMIN_PASSWORD", "${GRAFANA_ADMIN_PASSWORD:-changeme}"))
        elif kind == "vault":
            pairs += [("VAULT_ADDR", "http://127.0.0.1:8200"), ("VAULT_API_ADDR", "http://vault:8200")]
            if self.chance(0.2):
                pairs.append(("VAULT_DEV_ROOT_TOKEN_ID", "hvs." + self.token(24)))
        elif kind == "rabbitmq":
            pairs += [("RABBITMQ_DEFAULT_USER", "trading"),
                      ("RABBITMQ_DEFAULT_PASS", "${RABBITMQ_PASSWORD}")]
        elif kind == "minio":
            pairs += [("MINIO_ROOT_USER", "minio"), ("MINIO_ROOT_PASSWORD", "${MINIO_ROOT_PASSWORD}")]
        elif kind in APPS:
            pairs += [("SERVICE_NAME", name),
                      ("LOG_LEVEL", "${LOG_LEVEL:-info}"),
                      ("JAVA_TOOL_OPTIONS", "-XX:+UseZGC -Xms%dm -Xmx%dm -XX:+AlwaysPreTouch"
                       % ((m := r.choice([512, 1024, 2048, 4096])), m)),
                      ("KAFKA_BOOTSTRAP_SERVERS", "kafka:29092"),
                      ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4317"),
                      ("DB_URL", "jdbc:postgresql://postgres:5432/trading"),
                      ("DB_USER", "trader"),
                      ("REDIS_URL", "redis://redis:6379/0")]
            if kind == "market-data-feed":
                venue = name.split("-")[-1]
                pairs += [("VENUE", venue.upper()),
                          ("MULTICAST_GROUP", "239.%d.%d.%d" % (r.randint(1, 254), r.randint(0, 254),
                                                                r.randint(1, 254))),
                          ("MULTICAST_PORT", str(r.randint(20000, 40000))),
                          ("FEED_HANDLER", r.choice(["itch5", "sbe", "fast", "pitch", "mdp3"])),
                          ("SNAPSHOT_INTERVAL_MS", str(r.choice([100, 250, 1000])))]
            elif kind in ("order-gateway", "fix-gateway"):
                pairs += [("FIX_SENDER_COMP_ID", "ACME%s" % r.choice(REGIONS).upper()),
                          ("FIX_TARGET_COMP_ID", r.choice(VENUES).upper()),
                          ("MAX_ORDERS_PER_SEC", str(r.choice([500, 1000, 5000, 20000]))),
                          ("RISK_ENGINE_URL", "http://risk-engine:8090")]
            elif kind == "risk-engine":
                pairs += [("MAX_NOTIONAL_USD", str(r.choice([1000000, 5000000, 25000000]))),
                          ("VAR_CONFIDENCE", "0.99"),
                          ("KILL_SWITCH_ENABLED", "true")]
            if self.chance(0.5):
                pairs.append(("DB_PASSWORD", "${DB_PASSWORD}"))
            elif self.chance(0.08):
                pairs.append(("DB_PASSWORD", "pw-" + self.token(12)))  # literal secret
            if self.chance(0.06):
                pairs.append(("API_SECRET", self.token(32)))  # literal secret
            if self.chance(0.3):
                pairs.append(("FEATURE_FLAGS", "${FEATURE_FLAGS:-}"))
        extra = r.randint(0, int(4 * self.detail))
        for i in range(extra):
            pairs.append(("%s_OPT_%d" % (kind.upper().replace("-", "_"), i),
                          r.choice(["enabled", "disabled", "${OPT_%d:-1}" % i, str(r.randint(1, 1000))])))
        return pairs

    def environment(self, pairs):
        if self.chance(0.5):
            return [k + "=" + v for k, v in pairs]
        return {k: (Q(v) if RETYPED.match(v) else v) for k, v in pairs}

    # -- one service ------------------------------------------------------------------------

    def service(self, kind, name, project, offset, networks, volumes, secrets, anchors, others):
        r = self.r
        s = {}
        if self.opt(0.3):
            s[Comment(self.pick([
                "%s: owned by the %s team" % (name, self.pick(TEAMS)),
                "pinned after the %s incident, see runbook" % self.pick(["2023-11", "2024-03", "2024-06"]),
                "do not scale beyond one replica: keeps sequence numbers in memory",
                "TODO: move to the shared cluster",
                "exposed for the ops dashboard only",
            ]))] = None
        use_anchor = anchors and self.chance(0.85)
        if use_anchor:
            if kind in APPS and "app" in anchors and self.chance(0.6):
                s[Merge("common", "java-app")] = None
            else:
                s[Merge("common")] = None
        if kind in APPS and self.opt(0.25):
            s["build"] = {"context": "./services/" + kind, "dockerfile": "Dockerfile",
                          "args": {"BASE_IMAGE": "eclipse-temurin:21-jre", "GIT_SHA": "${GIT_SHA:-dev}"}}
        s["image"] = self.image(kind)
        if self.opt(0.4):
            s["container_name"] = project + "-" + name
        if self.opt(0.3):
            s["hostname"] = name
        if not use_anchor:
            s["restart"] = self.pick(["unless-stopped", "always", "on-failure", "no"])
        if kind in APPS and self.chance(0.3):
            s["command"] = Flow(["--config", "/etc/%s/config.yaml" % kind, "--region", self.pick(REGIONS)])
        elif kind == "redis" and self.chance(0.5):
            s["command"] = "redis-server --appendonly yes --requirepass ${REDIS_PASSWORD}"
        elif kind == "prometheus":
            s["command"] = ["--config.file=/etc/prometheus/prometheus.yml",
                            "--storage.tsdb.retention.time=%dd" % r.choice([7, 15, 30]),
                            "--web.enable-lifecycle"]
        if kind in APPS and self.chance(0.2):
            s["entrypoint"] = Flow(["/usr/bin/tini", "--", "/app/bin/" + kind])
        if kind in APPS or kind in ("postgres", "redis"):
            x = r.random()
            if x < 0.35:
                uid = r.choice([1000, 1001, 10001])
                s["user"] = Q("%d:%d" % (uid, uid))
            elif x < 0.4:
                s["user"] = "root"
        # ports
        cports = APPS[kind][0] if kind in APPS else INFRA[kind][2]
        low_latency = kind in ("market-data-feed", "matching-engine") and self.chance(0.3)
        if low_latency:
            s["network_mode"] = "host"
        else:
            ports = self.ports(cports, offset)
            if ports:
                s["ports"] = ports
            if self.opt(0.3):
                s["expose"] = [Q(str(p)) for p in cports]
        # environment
        pairs = self.env_pairs(kind, name, project)
        if use_anchor and "env" in anchors and self.chance(0.6):
            env = {Merge("common-env"): None}
            for k, v in pairs:
                if k not in ("TZ", "LOG_LEVEL"):
                    env[k] = Q(v) if RETYPED.match(v) else v
            s["environment"] = env
        else:
            s["environment"] = self.environment(pairs)
        if kind in APPS and self.opt(0.3):
            s["env_file"] = [".env", "./env/%s.env" % kind] if self.chance(0.5) else ".env"
        # volumes
        vols = []
        if kind in DATA_DIRS:
            vname = name.replace("-", "_") + "_data"
            volumes.append(vname)
            vols.append("%s:%s" % (vname, DATA_DIRS[kind]))
        for src, dst in CONFIG_MOUNTS.get(kind, []):
            if self.chance(0.7):
                vols.append("%s:%s%s" % (src, dst, self.pick([":ro", ":ro", "", ":z"])))
        if kind in APPS:
            if self.chance(0.6):
                vols.append("./config/%s:/etc/%s:ro" % (kind, kind))
            if self.chance(0.3):
                vols.append({"type": "bind", "source": "./logs/" + name, "target": "/var/log/" + kind})
            if self.chance(0.2):
                vols.append({"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 67108864}})
        if kind in ("cadvisor", "node-exporter"):
            vols += ["/:/rootfs:ro", "/var/run:/var/run:ro", "/sys:/sys:ro"]
            if kind == "cadvisor":
                vols.append("/var/lib/docker/:/var/lib/docker:ro")
        if kind in ("prometheus", "cadvisor") and self.chance(0.3):
            vols.append("/var/run/docker.sock:/var/run/docker.sock")
        if vols:
            s["volumes"] = vols
        # secrets
        if kind in ("postgres", "timescaledb") and "db_password" in secrets:
            s["secrets"] = ["db_password"]
        elif kind in ("order-gateway", "fix-gateway") and "fix_session_key" in secrets:
            s["secrets"] = [{"source": "fix_session_key", "target": "/run/secrets/fix.key", "uid": Q("1000")}]
        # networks
        if not low_latency:
            if kind in ("nginx", "api-gateway", "grafana", "backoffice-ui"):
                nets = ["frontend", "backend"]
            elif kind == "market-data-feed":
                nets = ["marketdata", "backend"]
            else:
                nets = ["backend"]
            nets = [n for n in nets if n in networks]
            if nets:
                if self.chance(0.3):
                    s["networks"] = {n: ({"aliases": [name + "." + n]} if i == 0 else None)
                                     for i, n in enumerate(nets)}
                    s["networks"] = {k: (v if v is not None else {}) for k, v in s["networks"].items()}
                else:
                    s["networks"] = nets
        # depends_on
        deps = [o for o in others if o != name]
        if deps and self.chance(0.7):
            deps = r.sample(deps, min(len(deps), r.randint(1, 3)))
            if self.chance(0.5):
                s["depends_on"] = {d: {"condition": self.pick(["service_healthy", "service_started"])}
                                   for d in deps}
            else:
                s["depends_on"] = deps
        # healthcheck
        if (kind in HEALTH or kind in APPS) and self.opt(1.1):
            if kind in HEALTH:
                test = HEALTH[kind]
            else:
                test = ["CMD", "curl", "-fsS", "http://localhost:%d/health" % cports[0]]
            hc = {"test": Flow(test), "interval": self.pick(["5s", "10s", "15s", "30s"]),
                  "timeout": self.pick(["2s", "3s", "5s"]), "retries": r.randint(3, 10)}
            if self.opt(0.5):
                hc["start_period"] = self.pick(["10s", "30s", "60s"])
            s["healthcheck"] = hc
        # deploy
        if not use_anchor or self.chance(0.3):
            if self.opt(0.7):
                dep = {}
                if kind in APPS and self.chance(0.3):
                    dep["replicas"] = r.randint(1, 4)
                dep["resources"] = {
                    "limits": {"cpus": Q(self.pick(["0.5", "1", "2", "4"])),
                               "memory": self.pick(["256M", "512M", "1G", "2G", "4G", "8G"])},
                    "reservations": {"cpus": Q(self.pick(["0.25", "0.5", "1"])),
                                     "memory": self.pick(["128M", "256M", "512M", "1G"])},
                }
                if self.chance(0.3):
                    dep["restart_policy"] = {"condition": "on-failure", "delay": "5s", "max_attempts": 5}
                s["deploy"] = dep
        # hardening or the lack of it
        if self.chance(0.35):
            s["read_only"] = True
        if self.chance(0.35):
            s["cap_drop"] = ["ALL"]
        if low_latency or (kind in APPS and self.chance(0.1)):
            s["cap_add"] = self.r.sample(["NET_ADMIN", "SYS_NICE", "IPC_LOCK", "NET_RAW"], 2)
            s["ulimits"] = {"memlock": {"soft": -1, "hard": -1}, "nofile": {"soft": 65536, "hard": 65536}}
        if low_latency and self.chance(0.3):
            s["privileged"] = True
        if self.chance(0.3):
            s["security_opt"] = ["no-new-privileges:true"]
        elif kind == "cadvisor":
            s["privileged"] = True
        if kind in APPS and self.chance(0.15):
            s["sysctls"] = {"net.core.somaxconn": 4096, "net.ipv4.tcp_fin_timeout": 15}
        if kind in APPS and self.chance(0.1):
            s["extra_hosts"] = ["%s-venue.example.net:10.%d.%d.%d" % (self.pick(VENUES), r.randint(0, 255),
                                                                        r.randint(0, 255), r.randint(1, 254))]
        if self.opt(0.2):
            s["stop_grace_period"] = self.pick(["10s", "30s", "1m"])
        if kind in ("postgres", "redis") and self.chance(0.3):
            s["shm_size"] = self.pick(["256mb", "1gb"])
        # labels
        if self.opt(0.6):
            labels = {"com.acme.team": self.pick(TEAMS),
                      "com.acme.tier": self.pick(["tier-0", "tier-1", "tier-2"]),
                      "com.acme.cost-center": "cc-%04d" % r.randint(1000, 9999)}
            if kind in ("nginx", "api-gateway", "grafana"):
                labels["traefik.enable"] = Q("true")
                labels["traefik.http.routers.%s.rule" % name] = "Host(`%s.%s.example.com`)" % (name, project)
            if self.chance(0.5):
                s["labels"] = ["%s=%s" % (k, v.text if isinstance(v, Q) else v) for k, v in labels.items()]
            else:
                s["labels"] = labels
        # logging
        if not use_anchor:
            if self.opt(0.5):
                s["logging"] = {"driver": "json-file",
                                "options": {"max-size": Q(self.pick(["10m", "50m", "100m"])),
                                            "max-file": Q(str(r.randint(3, 10)))}}
            elif self.chance(0.2):
                s["logging"] = {"driver": "fluentd", "options": {"fluentd-address": "localhost:24224",
                                                                 "tag": "trading.%s" % name}}
        elif self.chance(0.3):
            s["logging"] = Alias("default-logging")
        return s

    # -- one file ---------------------------------------------------------------------------

    def pick_kinds(self, n):
        infra_w = [(k, v[3]) for k, v in INFRA.items()]
        apps_w = [(k, v[1]) for k, v in APPS.items()]
        kinds = []
        for _ in range(n):
            pool = apps_w if self.chance(0.55) else infra_w
            total = sum(w for _, w in pool)
            x = self.r.uniform(0, total)
            for k, w in pool:
                x -= w
                if x <= 0:
                    break
            kinds.append(k)
        return kinds

    def project(self, index, with_anchors, big):
        r = self.r
        region = self.pick(REGIONS)
        env = self.pick(ENVS)
        project = "%s-%s-%s-%d" % (self.pick(["trading", "mdp", "oms", "risk", "quant", "fx", "crypto"]),
                                   region, env, index)
        if big:
            n = r.randint(40, 90)
            self.detail = 1.0
        else:
            n = int(round(r.triangular(3, 25, 5)))
        # Hand-written small stacks are terse; generated or long-lived ones carry more detail.
        self.detail = r.uniform(0.3, 1.0) if n > 6 else r.uniform(0.15, 0.8)
        kinds = self.pick_kinds(n)
        names, used = [], {}
        for k in kinds:
            if k == "market-data-feed":
                venue = VENUES[used.get(k, 0) % len(VENUES)]
                base = "md-feed-" + venue
            else:
                base = k
            c = used.get(k, 0)
            used[k] = c + 1
            if k == "market-data-feed":
                name = base if c < len(VENUES) else "%s-%d" % (base, c // len(VENUES) + 1)
            else:
                name = base if c == 0 else "%s-%d" % (base, c + 1)
            names.append(name)

        networks = ["backend"]
        if any(k in ("nginx", "api-gateway", "grafana", "backoffice-ui") for k in kinds):
            networks.insert(0, "frontend")
        if "market-data-feed" in kinds:
            networks.append("marketdata")
        secrets = []
        if self.chance(0.4):
            secrets.append("db_password")
        if self.chance(0.2):
            secrets.append("fix_session_key")

        doc = {}
        doc[Comment("%s: %s stack for the %s region (%s)" % (
            project, self.pick(["order flow", "market data", "risk and P&L", "post-trade", "full"]),
            region.upper(), env))] = None
        doc[Comment("Managed by the %s team; change via PR only." % self.pick(TEAMS))] = None
        if self.chance(0.3):
            doc["name"] = project
        anchors = set()
        if with_anchors:
            anchors = {"common"}
            doc[Comment("Shared settings, merged into the services below.")] = None
            doc["x-logging"] = Anchored("default-logging", {
                "driver": "json-file",
                "options": {"max-size": Q(self.pick(["10m", "20m", "50m"])), "max-file": Q("5")}})
            common = {"restart": self.pick(["unless-stopped", "always"]),
                      "logging": Alias("default-logging")}
            if self.chance(0.5):
                common["deploy"] = {"resources": {"limits": {"cpus": Q("1"), "memory": "1G"}}}
            if self.chance(0.4):
                common["security_opt"] = ["no-new-privileges:true"]
            if self.chance(0.3):
                common["labels"] = {"com.acme.env": env, "com.acme.region": region}
            doc["x-common"] = Anchored("common", common)
            if self.chance(0.8):
                anchors.add("env")
                doc["x-env"] = Anchored("common-env", {"TZ": "UTC", "LOG_LEVEL": "${LOG_LEVEL:-info}",
                                                       "ENVIRONMENT": env, "REGION": region})
            if any(k in APPS for k in kinds):
                anchors.add("app")
                doc["x-java-app"] = Anchored("java-app", {
                    "stop_grace_period": "30s",
                    "ulimits": {"nofile": {"soft": 65536, "hard": 65536}},
                    "tmpfs": ["/tmp:size=64m"],
                })
        services = {}
        for i, (k, name) in enumerate(zip(kinds, names)):
            if i > 0 and self.chance(0.08):
                services[Comment("--- %s ---" % self.pick(["data stores", "messaging", "observability",
                                                            "edge", "trading core", "feeds"]))] = None
            services[name] = self.service(k, name, project, (i * 10) % 20000,
                                          networks, [], secrets, anchors, names[:i])
        doc["services"] = services
        vols = []
        for svc in services.values():
            if not isinstance(svc, dict):
                continue
            for v in svc.get("volumes", []):
                if isinstance(v, str) and not v.startswith((".", "/")):
                    vols.append(v.split(":")[0])
        if vols:
            doc["volumes"] = {v: ({"driver": "local"} if self.chance(0.3) else {}) for v in vols}
        nets = {}
        for n in networks:
            if n == "backend":
                nets[n] = {"driver": "bridge", "internal": self.chance(0.5)}
            elif n == "marketdata":
                nets[n] = {"driver": "bridge", "internal": True,
                           "ipam": {"config": [{"subnet": "172.%d.0.0/16" % r.randint(20, 31)}]}}
            else:
                nets[n] = {"driver": "bridge"} if self.chance(0.5) else {}
        doc["networks"] = nets
        if secrets:
            doc["secrets"] = {s: {"file": "./secrets/%s.txt" % s} for s in secrets}
        return dump(doc)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    g = Gen(rng)
    n = a.files
    anchored = set(rng.sample(range(n), n // 5))
    big = set(rng.sample(range(n), max(1, n // 100)))
    total = 0
    with_anchors = 0
    for i in range(n):
        text = g.project(i + 1, i in anchored, i in big)
        name = "docker-compose.yml" if rng.random() < 0.15 else "compose.yaml"
        d = os.path.join(a.outdir, "p%04d" % (i + 1))
        os.makedirs(d, exist_ok=True)
        data = text.encode()
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        total += len(data)
        with_anchors += i in anchored
    print("files=%d bytes=%d anchored=%d" % (n, total, with_anchors))


if __name__ == "__main__":
    sys.exit(main())
