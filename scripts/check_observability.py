"""Static checks of the observability files of compose/ (run by scripts/check-observability).

    python check_observability.py ROOT SERVICES [--emit-rules FILE]

ROOT is the repository, SERVICES the services as "name=port name=port ..." (scripts/lib.sh's table).
Checks, without network or Docker:
  - compose/prometheus/prometheus.yml: one job per service, named like the service, scraping
    <name>-service:<port>/metrics every 5-15 s; the compose file has that service on that port;
  - compose/grafana/dashboards/*.json: parses; uid, unique panel ids, every panel a provisioned
    datasource and targets; every metric and label in every PromQL expression is a known one
    (KNOWN_METRICS below, the only list of them); every $variable is defined;
  - compose/grafana/provisioning: the datasource and the dashboard folder are where compose mounts them;
  - compose/otel-collector/config.yaml: OTLP gRPC 4317 and HTTP 4318 in, batch, out to Jaeger;
  - compose/docker-compose.yml: the services send traces to the collector; images pinned; host ports unique.
With --emit-rules, also writes every dashboard expression as a Prometheus recording rule (variables
replaced by plain values) so that `promtool check rules FILE` can parse the PromQL.
Exits 1 after printing every problem found, 0 when there is none.
"""

import json
import re
import sys
from pathlib import Path

from ruamel.yaml import YAML

# ---------------------------------------------------------------------------------------------
# Every metric the services expose: name -> (type, labels). Prometheus adds `job` and `instance`
# to every series when it scrapes; histograms are exposed as NAME_bucket (plus `le`), NAME_sum and
# NAME_count. A dashboard may use these names only.
# ---------------------------------------------------------------------------------------------
HTTP = {"http_route", "http_request_method", "http_response_status_code"}
CONSUMER = {"group", "topic"}
KNOWN_METRICS = {
    # Hummingbird's MetricsMiddleware (swift-metrics through swift-prometheus)
    "hb_requests": ("counter", HTTP),
    # Hummingbird labels it error_type (the status); ServiceKit counts every 4xx and 5xx answer
    # under the same name with http_response_status_code.
    "hb_request_errors": ("counter", {"http_route", "http_request_method", "error_type", "http_response_status_code"}),
    "http_server_request_duration": ("histogram", HTTP),
    "http_server_active_requests": ("gauge", {"http_request_method"}),
    # The transactional outbox
    "storefront_outbox_backlog": ("gauge", set()),
    "storefront_outbox_oldest_age_seconds": ("gauge", set()),
    "storefront_outbox_publish_failures_total": ("counter", set()),
    # Event consumers
    "storefront_events_handled_total": ("counter", CONSUMER),
    "storefront_events_retried_total": ("counter", CONSUMER),
    "storefront_events_dead_lettered_total": ("counter", CONSUMER),
    "storefront_event_handler_duration_seconds": ("histogram", CONSUMER),
    "storefront_consumer_lag": ("gauge", CONSUMER),
    # State of the business (inventory service, order service)
    "storefront_reservations": ("gauge", {"state"}),
    "storefront_orders": ("gauge", {"status"}),
    # The process
    "process_resident_memory_bytes": ("gauge", set()),
    "process_cpu_seconds_total": ("gauge", set()),
    "process_open_fds": ("gauge", set()),
    "process_threads": ("gauge", set()),
    # Outgoing REST calls
    "storefront_peer_requests_total": ("counter", {"peer", "method", "status"}),
    "storefront_peer_request_duration_seconds": ("histogram", {"peer"}),
    # Written by Prometheus itself for every target: 1 when the last scrape succeeded.
    "up": ("gauge", set()),
}
SCRAPE_LABELS = {"job", "instance"}
# Grafana's built-in variables a query may use besides the dashboard's own.
GRAFANA_VARIABLES = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms"}
# What --emit-rules puts in place of a variable, so that promtool can parse the expression.
VARIABLE_SAMPLES = {"__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000", "__range": "1h",
                    "__range_s": "3600", "__range_ms": "3600000"}

SCRAPE_INTERVAL_SECONDS = (5, 15)
OTLP_GRPC_PORT, OTLP_HTTP_PORT = 4317, 4318

problems = []


def fail(where, message):
    problems.append(f"{where}: {message}")


def series_names():
    """Every series name a known metric produces -> (base name, labels allowed on it)."""
    names = {}
    for name, (kind, labels) in KNOWN_METRICS.items():
        allowed = labels | SCRAPE_LABELS
        if kind == "histogram":
            names[name + "_bucket"] = (name, allowed | {"le"})
            names[name + "_sum"] = (name, allowed)
            names[name + "_count"] = (name, allowed)
        else:
            names[name] = (name, allowed)
    return names


SERIES = series_names()


def load_yaml(path, where):
    try:
        return YAML(typ="safe", pure=True).load(path.read_text())
    except FileNotFoundError:
        fail(where, "file missing")
    except Exception as error:  # noqa: BLE001 - any parse error is the finding
        fail(where, f"not valid YAML: {error}")
    return None


def rel(root, path):
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def seconds(duration):
    """A Prometheus duration such as 10s, 1m, 1m30s -> seconds (None when malformed)."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", str(duration))
    if not parts or "".join(n + u for n, u in parts) != str(duration):
        return None
    return sum(int(n) * units[u] for n, u in parts)


# ---------------------------------------------------------------------------------------------
# compose/docker-compose.yml
# ---------------------------------------------------------------------------------------------


class Compose:
    def __init__(self, root):
        self.root = root
        self.dir = root / "compose"
        self.where = "compose/docker-compose.yml"
        self.data = load_yaml(self.dir / "docker-compose.yml", self.where) or {}
        self.services = self.data.get("services") or {}

    def service(self, name, why):
        svc = self.services.get(name)
        if svc is None:
            fail(self.where, f"no service {name!r} ({why})")
        return svc or {}

    def environment(self, name):
        env = self.services.get(name, {}).get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
        return {str(k): (None if v is None else str(v)) for k, v in env.items()}

    @staticmethod
    def port_pairs(svc):
        """(host port, container port) of every published port (short syntax or long syntax), and ("", port) of
        every port only exposed to the compose network (`expose:`, the services behind the gateway)."""
        pairs = [("", str(port)) for port in svc.get("expose") or []]
        for entry in svc.get("ports") or []:
            if isinstance(entry, dict):
                pairs.append((str(entry.get("published", "")), str(entry.get("target", ""))))
                continue
            parts = str(entry).split("/")[0].split(":")
            container = parts[-1]
            host = parts[-2] if len(parts) >= 2 else ""
            pairs.append((host, container))
        return pairs

    def mounts(self, name):
        """container path -> host path of the bind mounts of a service (host paths made absolute)."""
        found = {}
        for entry in self.services.get(name, {}).get("volumes") or []:
            if isinstance(entry, dict):
                if entry.get("type") != "bind":
                    continue
                source, target = entry.get("source", ""), entry.get("target", "")
            else:
                parts = str(entry).split(":")
                if len(parts) < 2 or not parts[0].startswith((".", "/")):
                    continue  # a named volume
                source, target = parts[0], parts[1]
            found[target.rstrip("/")] = (self.dir / source).resolve()
        return found

    def host_path(self, name, container_path):
        """The host file or folder behind container_path in service name, through its bind mounts."""
        container_path = container_path.rstrip("/")
        for target, source in sorted(self.mounts(name).items(), key=lambda item: -len(item[0])):
            if container_path == target:
                return source
            if container_path.startswith(target + "/"):
                return source / container_path[len(target) + 1:]
        return None


def check_compose(root, compose, services):
    where = compose.where
    shared = None
    for name, _ in services:
        env = compose.environment(f"{name}-service")
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if endpoint != f"http://otel-collector:{OTLP_HTTP_PORT}":
            fail(where, f"{name}-service: OTEL_EXPORTER_OTLP_ENDPOINT is {endpoint!r}, expected "
                        f"'http://otel-collector:{OTLP_HTTP_PORT}' (OTLP/HTTP to the collector)")
        shared = env
    for name in ("prometheus", "grafana", "otel-collector", "jaeger"):
        compose.service(name, "the observability stack")
    hosts = {}
    for name, svc in compose.services.items():
        image = svc.get("image")
        if image is not None:
            tag = str(image).rsplit("/", 1)[-1].partition(":")[2]
            if not tag or tag == "latest":
                fail(where, f"{name}: image {image!r} is not pinned to a version tag")
        for host, _ in compose.port_pairs(svc):
            if host:
                if host in hosts:
                    fail(where, f"host port {host} published by both {hosts[host]} and {name}")
                hosts[host] = name
    for name, port in (("prometheus", "9090"), ("jaeger", "16686")):
        if name in compose.services and port not in [c for _, c in compose.port_pairs(compose.services[name])]:
            fail(where, f"{name}: UI port {port} is not published")
    return shared or {}


# ---------------------------------------------------------------------------------------------
# Prometheus
# ---------------------------------------------------------------------------------------------


def check_prometheus(root, compose, services, shared_env):
    path = root / "compose/prometheus/prometheus.yml"
    where = rel(root, path)
    config = load_yaml(path, where)
    if not isinstance(config, dict):
        if config is not None:
            fail(where, "not a mapping")
        return
    mounted = compose.host_path("prometheus", "/etc/prometheus/prometheus.yml")
    command = " ".join(str(c) for c in (compose.services.get("prometheus", {}).get("command") or []))
    if "--config.file=/etc/prometheus/prometheus.yml" not in command:
        fail(compose.where, "prometheus: command lacks --config.file=/etc/prometheus/prometheus.yml")
    if mounted != path.resolve():
        fail(compose.where, f"prometheus: /etc/prometheus/prometheus.yml is not mounted from {where}")
    global_interval = (config.get("global") or {}).get("scrape_interval", "1m")
    jobs = {}
    for job in config.get("scrape_configs") or []:
        name = job.get("job_name")
        if name in jobs:
            fail(where, f"job {name!r} defined twice")
        jobs[name] = job
    for name, port in services:
        job = jobs.get(name)
        if job is None:
            fail(where, f"no scrape job {name!r} (one job per service, named like the service)")
            continue
        host = f"{name}-service"
        targets = [t for sc in job.get("static_configs") or [] for t in sc.get("targets") or []]
        if targets != [f"{host}:{port}"]:
            fail(where, f"job {name!r}: targets {targets}, expected ['{host}:{port}']")
        if job.get("metrics_path", "/metrics") != "/metrics":
            fail(where, f"job {name!r}: metrics_path {job.get('metrics_path')!r}, expected '/metrics'")
        if job.get("scheme", "http") != "http":
            fail(where, f"job {name!r}: scheme {job.get('scheme')!r}, the services speak plain http")
        interval = job.get("scrape_interval", global_interval)
        secs = seconds(interval)
        low, high = SCRAPE_INTERVAL_SECONDS
        if secs is None or not low <= secs <= high:
            fail(where, f"job {name!r}: scrape interval {interval!r}, expected {low}s to {high}s")
        # The target must be a compose service that listens on that port.
        svc = compose.service(host, f"scraped by job {name!r}")
        if svc and port not in [c for _, c in compose.port_pairs(svc)]:
            fail(compose.where, f"{host}: port {port} (scraped by job {name!r}) is not among its ports")
        var = f"{name.upper()}_PORT"
        if shared_env.get(var) != port:
            fail(compose.where, f"{host}: {var} is {shared_env.get(var)!r}, job {name!r} scrapes port {port}")


# ---------------------------------------------------------------------------------------------
# PromQL (the part a dashboard uses): metric names, labels, variables
# ---------------------------------------------------------------------------------------------

TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
      | (?P<var>\$\{[A-Za-z0-9_:]+\}|\$[A-Za-z0-9_]+)
      | (?P<number>0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|s|m|h|d|w|y)?(?:\d+(?:ms|s|m|h|d|w|y))*)
      | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
      | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^=<>(){}\[\],@])
    )""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def tokenize(expr):
    tokens, pos = [], 0
    expr = expr.rstrip()
    while pos < len(expr):
        match = TOKEN.match(expr, pos)
        if not match or match.end() == pos:
            raise ValueError(f"cannot read {expr[pos:pos + 20]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def analyse(expr):
    """-> (metric names, {metric: labels matched}, grouping labels, variables) of one expression."""
    tokens = tokenize(expr)
    metrics, matched, grouping, variables = [], {}, set(), set()
    depth = {"(": 0, "{": 0, "[": 0}
    closing = {")": "(", "}": "{", "]": "["}
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else None
        if kind == "var":
            variables.add(text.strip("${}"))
        elif kind == "op" and text in depth:
            depth[text] += 1
        elif kind == "op" and text in closing:
            depth[closing[text]] -= 1
            if depth[closing[text]] < 0:
                raise ValueError(f"unbalanced {text!r}")
        elif kind == "ident" and text in GROUPING and following == "(":
            j = i + 2
            while j < len(tokens) and tokens[j][1] != ")":
                if tokens[j][0] == "ident":
                    grouping.add(tokens[j][1])
                j += 1
            i = j + 1
            continue
        elif kind == "ident" and (following == "(" or following in GROUPING):
            pass  # a function, or an aggregation (`sum by (job) (...)`)
        elif kind == "ident" and text.lower() not in KEYWORDS and depth["["] == 0:
            metrics.append(text)
            labels = matched.setdefault(text, set())
            if following == "{":
                j = i + 2
                while j < len(tokens) and tokens[j][1] != "}":
                    if tokens[j][0] == "ident" and j + 1 < len(tokens) and tokens[j + 1][1] in ("=", "!=", "=~", "!~"):
                        labels.add(tokens[j][1])
                    elif tokens[j][0] == "var":
                        variables.add(tokens[j][1].strip("${}"))
                    j += 1
                i = j + 1
                continue
        elif kind == "op" and text == "{" and (i == 0 or tokens[i - 1][0] != "ident"):
            raise ValueError("a selector without a metric name: name the metric")
        i += 1
    if any(depth.values()):
        raise ValueError("unbalanced brackets")
    return metrics, matched, grouping, variables


def check_expression(where, expr, defined_variables):
    try:
        metrics, matched, grouping, variables = analyse(expr)
    except ValueError as error:
        fail(where, f"cannot parse {expr!r}: {error}")
        return
    if not metrics:
        fail(where, f"no metric in {expr!r}")
    allowed_everywhere = set()
    for name in metrics:
        if name not in SERIES:
            hint = ""
            for known in SERIES:
                if known.startswith(name) or name.startswith(known):
                    hint = f" (did you mean {known}?)"
                    break
            fail(where, f"unknown metric {name!r} in {expr!r}{hint}")
            continue
        base, allowed = SERIES[name]
        allowed_everywhere |= allowed
        for label in sorted(matched.get(name, set()) - allowed):
            fail(where, f"{name} has no label {label!r} (it has {', '.join(sorted(allowed))})")
    if allowed_everywhere:
        for label in sorted(grouping - allowed_everywhere):
            fail(where, f"grouping by {label!r}, a label none of {sorted(set(metrics))} has")
    if "histogram_quantile" in expr:
        if not any(m.endswith("_bucket") for m in metrics):
            fail(where, f"histogram_quantile over no _bucket series in {expr!r}")
        if "le" not in grouping:
            fail(where, f"histogram_quantile without `le` in its grouping in {expr!r}")
    # Variables also stand inside label values ("$service"), which the tokens above keep whole.
    variables |= {a or b for a, b in re.findall(r"\$\{([A-Za-z0-9_]+)[^}]*\}|\$([A-Za-z0-9_]+)", expr)}
    for variable in sorted(variables - defined_variables - GRAFANA_VARIABLES):
        fail(where, f"undefined variable ${variable} in {expr!r}")


# ---------------------------------------------------------------------------------------------
# Grafana
# ---------------------------------------------------------------------------------------------


def check_grafana(root, compose):
    """-> [(rule name, expression with its variables replaced)] of every dashboard query."""
    provisioning = root / "compose/grafana/provisioning"
    if compose.host_path("grafana", "/etc/grafana/provisioning") != provisioning.resolve():
        fail(compose.where, "grafana: /etc/grafana/provisioning is not mounted from compose/grafana/provisioning")
    # Datasources
    datasource_uids = set()
    files = sorted((provisioning / "datasources").glob("*.y*ml"))
    if not files:
        fail(rel(root, provisioning / "datasources"), "no datasource file")
    for path in files:
        where = rel(root, path)
        config = load_yaml(path, where) or {}
        for ds in config.get("datasources") or []:
            if ds.get("type") != "prometheus":
                continue
            if not ds.get("uid"):
                fail(where, f"datasource {ds.get('name')!r} has no uid (the dashboard refers to it by uid)")
            datasource_uids.add(ds.get("uid"))
            match = re.fullmatch(r"http://([^:/]+):(\d+)/?", str(ds.get("url", "")))
            if not match or match.group(1) not in compose.services:
                fail(where, f"datasource url {ds.get('url')!r} is not http://<a compose service>:<port>")
            elif match.group(2) != "9090":
                fail(where, f"datasource url {ds.get('url')!r}: Prometheus listens on 9090")
    if not datasource_uids:
        fail(rel(root, provisioning / "datasources"), "no Prometheus datasource")
    # Dashboard providers
    dashboards = []
    files = sorted((provisioning / "dashboards").glob("*.y*ml"))
    if not files:
        fail(rel(root, provisioning / "dashboards"), "no dashboard provider file")
    for path in files:
        where = rel(root, path)
        config = load_yaml(path, where) or {}
        for provider in config.get("providers") or []:
            folder = (provider.get("options") or {}).get("path")
            if not folder:
                fail(where, f"provider {provider.get('name')!r} has no options.path")
                continue
            host = compose.host_path("grafana", folder)
            if host is None:
                fail(where, f"provider path {folder} is not mounted into the grafana service")
            elif not host.is_dir() or not list(host.glob("*.json")):
                fail(where, f"provider path {folder} is {rel(root, host)} on the host, which has no dashboard")
            else:
                dashboards += sorted(host.glob("*.json"))
    home = compose.environment("grafana").get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        host = compose.host_path("grafana", home)
        if host is None or not host.is_file():
            fail(compose.where, f"grafana: home dashboard {home} is no file mounted from the repository")
    storefront = (root / "compose/grafana/dashboards/storefront.json").resolve()
    if storefront not in [d.resolve() for d in dashboards]:
        fail(rel(root, provisioning / "dashboards"), "compose/grafana/dashboards/storefront.json is not provisioned")
    rules = []
    for path in dashboards:
        rules += check_dashboard(root, path, datasource_uids)
    return rules


def flatten(panels):
    for panel in panels or []:
        yield panel
        yield from flatten(panel.get("panels"))


def check_dashboard(root, path, datasource_uids):
    where = rel(root, path)
    try:
        dashboard = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        fail(where, f"not valid JSON: {error}")
        return []
    if path.name == "storefront.json" and dashboard.get("uid") != "storefront":
        fail(where, f"uid {dashboard.get('uid')!r}, expected 'storefront'")
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < 36:
        fail(where, f"schemaVersion {dashboard.get('schemaVersion')!r}: expected 36 or later")
    if not dashboard.get("title"):
        fail(where, "no title")

    variables = {}
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        variables[variable.get("name")] = variable
    rules = []
    for name, variable in variables.items():
        vwhere = f"{where}: variable ${name}"
        if variable.get("type") != "query":
            continue
        if datasource_uids and (variable.get("datasource") or {}).get("uid") not in datasource_uids:
            fail(vwhere, f"datasource {variable.get('datasource')!r} is not a provisioned Prometheus uid")
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        match = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", str(query or ""))
        if not match:
            fail(vwhere, f"query {query!r} is not label_values(SELECTOR, LABEL)")
            continue
        check_expression(vwhere, match.group(1), set(variables))
        metric = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", match.group(1))
        if metric and metric.group(0) in SERIES and match.group(2) not in SERIES[metric.group(0)][1]:
            fail(vwhere, f"{metric.group(0)} has no label {match.group(2)!r}")

    seen_ids = {}
    panels = list(flatten(dashboard.get("panels")))
    if not panels:
        fail(where, "no panels")
    for panel in panels:
        pid, title = panel.get("id"), panel.get("title") or "(untitled)"
        pwhere = f"{where}: panel {pid} {title!r}"
        if not isinstance(pid, int):
            fail(pwhere, "id is not an integer")
        elif pid in seen_ids:
            fail(pwhere, f"id {pid} already used by panel {seen_ids[pid]!r}")
        else:
            seen_ids[pid] = title
        grid = panel.get("gridPos") or {}
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")) or grid.get("x", 0) + grid.get("w", 0) > 24:
            fail(pwhere, f"gridPos {grid} is not x, y, w, h within 24 columns")
        if panel.get("type") == "row":
            continue
        # (Without any provisioned datasource, that one problem is reported once, above.)
        if datasource_uids and (panel.get("datasource") or {}).get("uid") not in datasource_uids:
            fail(pwhere, f"datasource {panel.get('datasource')!r} is not a provisioned Prometheus uid {sorted(datasource_uids)}")
        targets = panel.get("targets") or []
        if not targets:
            fail(pwhere, "no targets")
        refs = set()
        for target in targets:
            ref = target.get("refId")
            if not ref or ref in refs:
                fail(pwhere, f"target refId {ref!r} missing or repeated")
            refs.add(ref)
            if (datasource_uids and "datasource" in target and target["datasource"] != panel.get("datasource")
                    and (target["datasource"] or {}).get("uid") not in datasource_uids):
                fail(pwhere, f"target {ref}: datasource {target['datasource']!r} is not a provisioned Prometheus uid")
            expr = (target.get("expr") or "").strip()
            if not expr:
                fail(pwhere, f"target {ref}: no expr")
                continue
            check_expression(f"{pwhere} target {ref}", expr, set(variables))
            rules.append((f"dashboard:panel_{pid}_{ref}", rule_expression(expr, set(variables))))
    return rules


def rule_expression(expr, variables):
    """expr with the dashboard's and Grafana's variables replaced by values promtool can parse."""
    def value(match):
        name = match.group(1) or match.group(2)
        return VARIABLE_SAMPLES.get(name, ".*" if name in variables else name)
    return re.sub(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)", value, expr)


# ---------------------------------------------------------------------------------------------
# OpenTelemetry collector
# ---------------------------------------------------------------------------------------------


def check_collector(root, compose):
    path = root / "compose/otel-collector/config.yaml"
    where = rel(root, path)
    config = load_yaml(path, where)
    if not isinstance(config, dict):
        return
    command = " ".join(str(c) for c in (compose.services.get("otel-collector", {}).get("command") or []))
    container = re.search(r"--config[= ](\S+)", command)
    container = container.group(1) if container else "/etc/otelcol-contrib/config.yaml"
    if compose.host_path("otel-collector", container) != path.resolve():
        fail(compose.where, f"otel-collector: its config {container} is not mounted from {where}")
    protocols = ((config.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}
    for protocol, port in (("grpc", OTLP_GRPC_PORT), ("http", OTLP_HTTP_PORT)):
        endpoint = str((protocols.get(protocol) or {}).get("endpoint", ""))
        if endpoint != f"0.0.0.0:{port}":
            fail(where, f"receivers.otlp.protocols.{protocol}.endpoint is {endpoint!r}, expected '0.0.0.0:{port}' "
                        "(the default is localhost since collector 0.104: other containers could not reach it)")
    pipeline = ((config.get("service") or {}).get("pipelines") or {}).get("traces") or {}
    for section in ("receivers", "processors", "exporters"):
        for name in pipeline.get(section) or []:
            if name not in (config.get(section) or {}):
                fail(where, f"pipeline traces uses {section[:-1]} {name!r}, which is not defined")
    if "otlp" not in (pipeline.get("receivers") or []):
        fail(where, "pipeline traces does not receive otlp")
    if "batch" not in (pipeline.get("processors") or []):
        fail(where, "pipeline traces has no batch processor")
    to_jaeger = False
    for name in pipeline.get("exporters") or []:
        exporter = (config.get("exporters") or {}).get(name) or {}
        endpoint = str(exporter.get("endpoint", ""))
        host = re.sub(r"^https?://", "", endpoint).split(":")[0]
        if name.split("/")[0] in ("otlp", "otlphttp") and host in compose.services:
            to_jaeger = to_jaeger or host == "jaeger"
        elif name.split("/")[0] in ("otlp", "otlphttp"):
            fail(where, f"exporter {name!r} sends to {endpoint!r}, not a compose service")
    if not to_jaeger:
        fail(where, "pipeline traces exports to no otlp exporter with endpoint jaeger:4317")


def main():
    root = Path(sys.argv[1]).resolve()
    services = [tuple(pair.split("=", 1)) for pair in sys.argv[2].split()]
    emit = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--emit-rules" else None
    compose = Compose(root)
    shared_env = check_compose(root, compose, services)
    check_prometheus(root, compose, services, shared_env)
    rules = check_grafana(root, compose)
    check_collector(root, compose)
    if emit:
        groups = {"groups": [{"name": "dashboard", "rules": [
            {"record": name, "expr": expr} for name, expr in rules]}]}
        Path(emit).write_text(json.dumps(groups, indent=1))  # JSON is YAML
    if problems:
        for problem in problems:
            print(f"FAIL {problem}", file=sys.stderr)
        print(f"{len(problems)} problem(s) in the observability files", file=sys.stderr)
        return 1
    print(f"ok: prometheus jobs for {len(services)} services, {len(rules)} dashboard queries, "
          "grafana provisioning, collector and compose wiring")
    return 0


if __name__ == "__main__":
    sys.exit(main())
