"""Checks of what compose/ and deploy/k8s/ deploy (run by scripts/check-deploy, which renders them first).

    python check_deploy.py compose ROOT SERVICES CONFIG_JSON
    python check_deploy.py k8s ROOT SERVICES RENDERED_YAML

ROOT is the repository, SERVICES the services as "name=port name=port ..." (scripts/lib.sh's table).
compose: CONFIG_JSON is `docker-compose config` of compose/docker-compose.yml (with every secret set, and
APP_ENV=development in its environment file, as a copied env.example would have it), converted to JSON.
k8s: RENDERED_YAML is the production overlay as `kubectl kustomize` renders it.
Prints every problem found ("FAIL ...") and exits 1, or prints one "ok" line and exits 0.
"""

import json
import re
import sys
from pathlib import Path

from ruamel.yaml import YAML

problems = []


def fail(where, message):
    problems.append(f"{where}: {message}")


def env_example_keys(root):
    """Every key env.example names, set or commented out (`#KEY=`)."""
    text = (root / "env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def duration_seconds(text):
    """Compose durations: 45s, 1m30s, 500ms."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text))
    return sum(float(n) * units[u] for n, u in parts) if parts else None


def port_entry(port):
    """(host address, published port, container port) of a `ports:` entry, short or long syntax."""
    if isinstance(port, dict):
        return str(port.get("host_ip") or ""), str(port.get("published") or ""), str(port.get("target") or "")
    parts = str(port).split("/")[0].split(":")
    parts = [""] * (3 - len(parts)) + parts
    return parts[0], parts[1], parts[2]


def shutdown_seconds(env):
    """How long a service may take after SIGTERM: its drain plus its producer's flush (defaults as in the code)."""
    drain = int(env.get("SHUTDOWN_DRAIN_MS") or 5000)
    flush = int(env.get("KAFKA_MESSAGE_TIMEOUT_MS") or 30000)
    return (drain + flush) / 1000


# ---------------------------------------------------------------------------------------------
# compose
# ---------------------------------------------------------------------------------------------

# The services' secrets, which compose must require (`${VAR:?}`), and the containers that get them.
COMPOSE_INFRA = {"mongo", "kafka", "kafka-init", "gateway", "prometheus", "grafana", "otel-collector", "jaeger"}
# The only containers on the internal network with the store and the broker.
DATA_NETWORK = "data"
# Processes a health check must not start every few seconds.
HEAVY_HEALTHCHECKS = re.compile(r"kafka-[a-z-]+\.sh|\bjava\b|\bjcmd\b")


def check_compose(root, services, config):
    where = "compose/docker-compose.yml"
    declared = config.get("services") or {}
    networks = config.get("networks") or {}
    storefront = {f"{name}-service": port for name, port in services}

    for name in sorted(set(storefront) | COMPOSE_INFRA):
        if name not in declared:
            fail(where, f"no service {name!r}")
    for name, svc in declared.items():
        # Limits, log rotation, a named and tagged image on every container.
        if not svc.get("mem_limit"):
            fail(where, f"{name}: no mem_limit")
        if not svc.get("cpus"):
            fail(where, f"{name}: no cpus limit")
        logging = svc.get("logging") or {}
        options = logging.get("options") or {}
        if logging.get("driver") not in ("json-file", "local") or not options.get("max-size") or not options.get("max-file"):
            fail(where, f"{name}: logs are not rotated (logging: json-file or local with max-size and max-file)")
        image = str(svc.get("image") or "")
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if not tag or tag == "latest":
            fail(where, f"{name}: image {image!r} has no version tag")
        test = " ".join(str(part) for part in (svc.get("healthcheck") or {}).get("test") or [])
        if HEAVY_HEALTHCHECKS.search(test):
            fail(where, f"{name}: the health check starts a JVM tool ({test[:80]!r}...)")
        # Published ports: the gateway's on the network; the UIs on loopback only; nothing else.
        for port in svc.get("ports") or []:
            host_ip, published, _ = port_entry(port)
            if name == "gateway":
                continue
            if name in storefront:
                fail(where, f"{name}: publishes port {published} (only the gateway may; services use expose)")
            elif host_ip != "127.0.0.1":
                fail(where, f"{name}: publishes port {published} on {host_ip or 'every address'}, not 127.0.0.1")
        if name not in set(storefront) | {"mongo", "kafka", "kafka-init"} and DATA_NETWORK in (svc.get("networks") or {}):
            fail(where, f"{name}: is on the network {DATA_NETWORK!r} (the store and the broker's)")

    # `config` folds env_file into environment: look at the file itself.
    raw = YAML(typ="safe").load((root / where).read_text()) or {}
    for name, svc in (raw.get("services") or {}).items():
        if svc.get("env_file"):
            fail(where, f"{name}: reads env_file {svc['env_file']} (development settings must not reach production)")

    gateway = declared.get("gateway", {})
    if "8000" not in [port_entry(port)[2] for port in gateway.get("ports") or []]:
        fail(where, "gateway: port 8000 is not published")
    mounted = {str(v.get("source") if isinstance(v, dict) else v.split(":")[0]) for v in gateway.get("volumes") or []}
    for wanted in ("deploy/nginx/storefront.conf", "deploy/nginx/upstreams.compose.conf"):
        path = (root / wanted).resolve()
        if str(path) not in mounted:
            fail(where, f"gateway: {wanted} is not mounted")
        elif not path.is_file():
            fail(where, f"gateway: mounts {wanted}, which does not exist")

    if not (networks.get(DATA_NETWORK) or {}).get("internal"):
        fail(where, f"network {DATA_NETWORK!r} is not internal")
    for name in ("mongo", "kafka"):
        if set(declared.get(name, {}).get("networks") or {}) != {DATA_NETWORK}:
            fail(where, f"{name}: must be on the network {DATA_NETWORK!r} only")

    mongo = declared.get("mongo", {})
    mongo_command = " ".join(str(p) for p in (mongo.get("entrypoint") or []) + (mongo.get("command") or []))
    if "--keyFile" not in mongo_command:
        fail(where, "mongo: runs without --keyFile (a replica set with authentication needs one)")
    if not (mongo.get("environment") or {}).get("MONGO_INITDB_ROOT_PASSWORD"):
        fail(where, "mongo: no root password (MONGO_INITDB_ROOT_PASSWORD): authentication is off")

    for name, port in storefront.items():
        svc = declared.get(name, {})
        env = svc.get("environment") or {}
        if env.get("APP_ENV") != "production":
            fail(where, f"{name}: APP_ENV is {env.get('APP_ENV')!r} with a copied env.example, not 'production'")
        if not re.match(r"^mongodb://[^:@/]+:[^@/]+@", str(env.get("MONGO_URI", ""))):
            fail(where, f"{name}: MONGO_URI has no credentials")
        if not env.get("JWT_SECRET"):
            fail(where, f"{name}: no JWT_SECRET")
        if str(port) not in [str(p) for p in svc.get("expose") or []]:
            fail(where, f"{name}: does not expose its port {port}")
        if not (svc.get("healthcheck") or {}).get("test"):
            fail(where, f"{name}: no health check")
        grace = duration_seconds(svc.get("stop_grace_period", "10s"))
        needed = shutdown_seconds(env)
        if grace is None or grace <= needed:
            fail(where, f"{name}: stop_grace_period {svc.get('stop_grace_period', '10s (default)')} is not longer "
                        f"than its drain plus producer flush ({needed:g} s)")
        if DATA_NETWORK not in (svc.get("networks") or {}):
            fail(where, f"{name}: is not on the network {DATA_NETWORK!r} (it needs the store and the broker)")
    users = declared.get("user-service", {}).get("environment") or {}
    if not users.get("ADMIN_PASSWORD") or not users.get("ADMIN_EMAIL"):
        fail(where, "user-service: ADMIN_EMAIL and ADMIN_PASSWORD are not passed")


def check_dockerfile(root, services):
    where = "compose/Dockerfile"
    text = (root / where).read_text()
    stages = re.split(r"^FROM\s", text, flags=re.MULTILINE)[1:]
    build = next((s for s in stages if re.match(r"\S+\s+AS\s+build\b", s, re.IGNORECASE)), None)
    if build is None:
        fail(where, "no stage named build")
        return
    if re.search(r"^ARG\s+SERVICE\b", build, re.MULTILINE) or "${SERVICE}" in build:
        fail(where, "the build stage depends on SERVICE: the seven images would each build everything")
    # The seven services in one stage, each built (statically, as the stack's --release does) and staged; product by
    # product, since the static SDK lacks swift-testing (a plain `swift build` also builds the test support).
    built = re.search(r'services="([a-z\s\\-]+?)"', build)
    names = set(built.group(1).replace("\\", " ").split()) if built else set()
    if names != {f"{name}-service" for name, _ in services}:
        fail(where, f"the build stage builds {sorted(names)}, not the seven services")
    if not re.search(r'swift build -c release --static-swift-stdlib --product "\$\{service\}" \|\| exit 1', build):
        fail(where, "the build stage does not build each of ${services} statically, failing on the first error")
    if re.search(r"^COPY\s+\.\s", text, re.MULTILINE):
        fail(where, "COPY . copies the whole context (.env, .build with the classic builder)")
    final = stages[-1]
    if not re.search(r"^USER\s+[1-9]", final, re.MULTILINE):
        fail(where, "the service image runs as root (no USER with a non-zero uid)")
    if not re.search(r"^ARG\s+SERVICE\b", final, re.MULTILINE):
        fail(where, "the last stage does not pick the service (ARG SERVICE)")

    where = "Package.swift"
    for line in (root / where).read_text().splitlines():
        if ".package(" in line and "exact:" not in line:
            fail(where, f"a dependency without an exact version: {line.strip()}")


# ---------------------------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------------------------

# Who calls each service over REST, besides the gateway (Services/*/App+build.swift, Orders/Repositories/Peers.swift).
CALLERS = {
    "user": {"notification", "order"},
    "product": {"cart", "order"},
    "inventory": {"cart", "order", "product"},
    "cart": {"order"},
    "order": {"payment"},
    "payment": {"order"},
    "notification": set(),
}
MONGO_POD_LABELS = {"app": "storefront-mongodb-svc"}
SERVICE_LABELS = {"app.kubernetes.io/component": "service"}
MONITORING = {"kubernetes.io/metadata.name": "monitoring"}
NAMESPACE = "storefront"


def labels_of(peer):
    """One `from` entry as ("pod", labels) or ("namespace", labels)."""
    if "namespaceSelector" in peer:
        return ("namespace", dict((peer["namespaceSelector"] or {}).get("matchLabels") or {}))
    return ("pod", dict((peer.get("podSelector") or {}).get("matchLabels") or {}))


def check_pod(where, pod, probes):
    """Non-root, read-only root, no privilege escalation, limits, and the given probe paths, on every container."""
    spec = pod.get("spec") or {}
    pod_security = spec.get("securityContext") or {}
    for container in spec.get("containers") or []:
        security = {**pod_security, **(container.get("securityContext") or {})}
        if security.get("runAsNonRoot") is not True or not security.get("runAsUser"):
            fail(where, f"container {container['name']}: not runAsNonRoot with a non-zero runAsUser")
        if security.get("readOnlyRootFilesystem") is not True:
            fail(where, f"container {container['name']}: root filesystem is writable")
        if security.get("allowPrivilegeEscalation") is not False:
            fail(where, f"container {container['name']}: allowPrivilegeEscalation is not false")
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for what in ("cpu", "memory"):
                if not (resources.get(kind) or {}).get(what):
                    fail(where, f"container {container['name']}: no {what} {kind}")
        for probe, path in probes.items():
            got = ((container.get(probe) or {}).get("httpGet") or {}).get("path")
            if got != path:
                fail(where, f"container {container['name']}: {probe} is {got!r}, not GET {path}")


def check_k8s(root, services, objects):
    where = "deploy/k8s/overlays/production"
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
        namespace = obj["metadata"].get("namespace")
        if obj["kind"] != "Namespace" and namespace != NAMESPACE:
            fail(where, f"{obj['kind']} {obj['metadata']['name']}: namespace {namespace!r}, not {NAMESPACE!r}")

    def get(kind, name):
        obj = by_kind.get(kind, {}).get(name)
        if obj is None:
            fail(where, f"no {kind} {name!r}")
        return obj or {}

    # Settings: the ConfigMap, the Secret and what the operator writes cover env.example's keys.
    config_maps = [c for n, c in by_kind.get("ConfigMap", {}).items() if n.startswith("storefront-config")]
    config = config_maps[0].get("data", {}) if config_maps else {}
    if not config_maps:
        fail(where, "no ConfigMap storefront-config")
    secret = get("Secret", "storefront-secrets")
    secret_keys = set(secret.get("data") or {}) | set(secret.get("stringData") or {})
    example = (root / "deploy/k8s/overlays/production/secrets.env.example").read_text()
    wanted_secret_keys = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    if secret_keys != wanted_secret_keys:
        fail(where, f"Secret storefront-secrets has {sorted(secret_keys)}, secrets.env.example {sorted(wanted_secret_keys)}")
    if config.get("APP_ENV") != "production":
        fail(where, f"storefront-config: APP_ENV is {config.get('APP_ENV')!r}, not 'production'")
    mongo = get("MongoDBCommunity", "storefront-mongodb")
    users = (mongo.get("spec") or {}).get("users") or []
    uri_secret = users[0].get("connectionStringSecretName") if users else None
    commented = set(re.findall(r"^#([A-Z][A-Z0-9_]+)=", (root / "deploy/k8s/base/config.env").read_text(), re.MULTILINE))
    known = env_example_keys(root)
    for key in sorted(set(config) - known):
        fail("deploy/k8s/base/config.env", f"{key} is no key of env.example")

    # The services: Deployment, Service, PDB, HPA, probes, limits, non-root, grace period, who may call them.
    covered = set(config) | commented
    policies = by_kind.get("NetworkPolicy", {})
    for name, port in services:
        svc = f"{name}-service"
        deployment = get("Deployment", svc)
        spec = deployment.get("spec") or {}
        pod = spec.get("template") or {}
        dwhere = f"Deployment {svc}"
        if spec.get("replicas") != 2:
            fail(dwhere, f"replicas {spec.get('replicas')}, not 2")
        check_pod(dwhere, pod, {"livenessProbe": "/health", "readinessProbe": "/ready"})
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        container = containers[0]
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        if grace <= shutdown_seconds(config):
            fail(dwhere, f"terminationGracePeriodSeconds {grace} is not longer than the drain plus the flush "
                         f"({shutdown_seconds(config):g} s)")
        if not any((e.get("configMapRef") or {}).get("name", "").startswith("storefront-config")
                   for e in container.get("envFrom") or []):
            fail(dwhere, "does not read storefront-config")
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if not ref:
                continue
            covered.add(env["name"])
            if ref["name"] == "storefront-secrets" and ref["key"] not in secret_keys:
                fail(dwhere, f"{env['name']} refers to key {ref['key']!r}, which storefront-secrets lacks")
            elif ref["name"] not in ("storefront-secrets", uri_secret):
                fail(dwhere, f"{env['name']} refers to Secret {ref['name']!r}, which nothing makes")
        names = {e["name"] for e in container.get("env") or []}
        if not {"JWT_SECRET", "MONGO_URI"} <= names:
            fail(dwhere, "lacks JWT_SECRET or MONGO_URI from a Secret")
        if [p.get("containerPort") for p in container.get("ports") or []] != [int(port)]:
            fail(dwhere, f"container port is not {port}")
        service = get("Service", svc)
        if [p.get("port") for p in (service.get("spec") or {}).get("ports") or []] != [int(port)]:
            fail(f"Service {svc}", f"port is not {port}")
        if str(config.get(f"{name.upper()}_URL")) != f"http://{svc}:{port}":
            fail("storefront-config", f"{name.upper()}_URL is not http://{svc}:{port}")
        check_disruption_and_scaling(get, svc)
        # The service's NetworkPolicy admits exactly the gateway, its callers and the monitoring namespace.
        policy = policies.get(svc)
        if policy is None:
            fail(where, f"no NetworkPolicy for {svc}")
            continue
        admitted = set()
        for rule in (policy["spec"].get("ingress") or []):
            for peer in rule.get("from") or []:
                kind, labels = labels_of(peer)
                admitted.add(labels.get("app.kubernetes.io/name", "?") if kind == "pod" else
                              "namespace:" + labels.get("kubernetes.io/metadata.name", "?"))
        expected = {"gateway", "namespace:monitoring"} | {f"{c}-service" for c in CALLERS[name]}
        if admitted != expected:
            fail(f"NetworkPolicy {svc}", f"admits {sorted(admitted)}, expected {sorted(expected)}")
    for key in sorted(known - covered):
        fail(where, f"env.example's {key} is neither in storefront-config (set or commented in base/config.env) "
                    "nor taken from a Secret")

    # The gateway: its own Deployment of nginx with deploy/nginx's files, behind the Ingress.
    gateway = get("Deployment", "gateway")
    gspec = gateway.get("spec") or {}
    if gspec.get("replicas") != 2:
        fail("Deployment gateway", f"replicas {gspec.get('replicas')}, not 2")
    check_pod("Deployment gateway", gspec.get("template") or {}, {"livenessProbe": "/health", "readinessProbe": "/health"})
    check_disruption_and_scaling(get, "gateway")
    confs = [c.get("data", {}) for n, c in by_kind.get("ConfigMap", {}).items() if n.startswith("gateway-conf")]
    nginx = root / "deploy/nginx/storefront.conf"
    if not confs or not nginx.is_file() or confs[0].get("storefront.conf") != nginx.read_text():
        fail(where, "ConfigMap gateway-conf does not hold deploy/nginx/storefront.conf")
    # Every file of web/ served, where storefront.conf's `root web` finds it (/etc/nginx/web).
    webs = [c for n, c in by_kind.get("ConfigMap", {}).items() if n.startswith("gateway-web")]
    served = {}
    for volume in (gspec.get("template") or {}).get("spec", {}).get("volumes") or []:
        if (volume.get("configMap") or {}).get("name", "").startswith("gateway-web"):
            data = webs[0].get("data", {}) if webs else {}
            served = {item["path"]: data.get(item["key"]) for item in volume["configMap"].get("items") or []}
    mounts = [
        m.get("mountPath")
        for c in (gspec.get("template") or {}).get("spec", {}).get("containers") or []
        for m in c.get("volumeMounts") or []
    ]
    for file in sorted(p for p in (root / "web").rglob("*") if p.is_file()):
        path = file.relative_to(root / "web").as_posix()
        if served.get(path) != file.read_text():
            fail(where, f"the gateway does not serve web/{path} (ConfigMap gateway-web, volume items)")
    if "/etc/nginx/web" not in mounts:
        fail(where, "the gateway does not mount its web storefront at /etc/nginx/web")
    ingress_backends = [
        path["backend"]["service"]["name"]
        for ingress in by_kind.get("Ingress", {}).values()
        for rule in ingress["spec"].get("rules") or []
        for path in (rule.get("http") or {}).get("paths") or []
    ]
    if not ingress_backends or set(ingress_backends) != {"gateway"}:
        fail(where, f"the Ingress sends traffic to {sorted(set(ingress_backends))}, not only to the gateway")
    if any(s["spec"].get("type") in ("NodePort", "LoadBalancer") for s in by_kind.get("Service", {}).values()):
        fail(where, "a Service is exposed outside the cluster (NodePort/LoadBalancer): only the Ingress may be")

    # NetworkPolicies: default deny; MongoDB from the services and its members; Kafka's listener from the services.
    deny = policies.get("default-deny-ingress", {}).get("spec") or {}
    if deny.get("podSelector") != {} or deny.get("ingress") or "Ingress" not in (deny.get("policyTypes") or []):
        fail(where, "no NetworkPolicy default-deny-ingress (podSelector {}, Ingress, no rules)")
    mongo_policies = [p for p in policies.values() if (p["spec"].get("podSelector") or {}).get("matchLabels") == MONGO_POD_LABELS]
    peers = [labels_of(peer) for p in mongo_policies for r in p["spec"].get("ingress") or [] for peer in r.get("from") or []]
    if not peers or any(kind != "pod" or labels not in (SERVICE_LABELS, MONGO_POD_LABELS) for kind, labels in peers):
        fail(where, f"MongoDB's NetworkPolicy admits {peers}, not only the services and its members")
    kafka = get("Kafka", "storefront-kafka")
    for listener in ((kafka.get("spec") or {}).get("kafka") or {}).get("listeners") or []:
        listener_peers = [labels_of(peer) for peer in listener.get("networkPolicyPeers") or []]
        if listener_peers != [("pod", SERVICE_LABELS)]:
            fail(where, f"Kafka listener {listener.get('name')}: networkPolicyPeers {listener_peers}, not the services only")
        if listener.get("type") != "internal":
            fail(where, f"Kafka listener {listener.get('name')}: type {listener.get('type')}, not internal")

    # The operators' resources: three members each, authentication on MongoDB, the topics of compose's kafka-init.
    mspec = mongo.get("spec") or {}
    if mspec.get("members") != 3:
        fail(where, f"MongoDBCommunity: {mspec.get('members')} members, not 3")
    if "SCRAM" not in ((mspec.get("security") or {}).get("authentication") or {}).get("modes", []):
        fail(where, "MongoDBCommunity: SCRAM authentication is off")
    for user in users:
        ref = user.get("passwordSecretRef") or {}
        if ref.get("name") != "storefront-secrets" or ref.get("key") not in secret_keys:
            fail(where, f"MongoDBCommunity user {user.get('name')}: password from {ref}, not a key of storefront-secrets")
        if {r.get("name") for r in user.get("roles") or []} != {"readWrite"}:
            fail(where, f"MongoDBCommunity user {user.get('name')}: roles beyond readWrite")
    pools = [p for p in by_kind.get("KafkaNodePool", {}).values()
             if (p["metadata"].get("labels") or {}).get("strimzi.io/cluster") == "storefront-kafka"]
    if sum(p["spec"].get("replicas", 0) for p in pools if "broker" in p["spec"].get("roles", [])) != 3:
        fail(where, "Kafka: not three brokers in its KafkaNodePools")
    if sum(p["spec"].get("replicas", 0) for p in pools if "controller" in p["spec"].get("roles", [])) != 3:
        fail(where, "Kafka: not three KRaft controllers in its KafkaNodePools")
    compose_text = (root / "compose/docker-compose.yml").read_text()
    listed = re.search(r"for topic in ([a-z\s-]+);", compose_text)
    topics = set(listed.group(1).split()) if listed else set()
    topics |= {t + ".dlq" for t in topics}
    declared = {t["spec"].get("topicName") for t in by_kind.get("KafkaTopic", {}).values()}
    if not topics or declared != topics:
        fail(where, f"KafkaTopics {sorted(declared)} are not compose's topics {sorted(topics)}")
    for topic in by_kind.get("KafkaTopic", {}).values():
        if topic["spec"].get("replicas") != 3:
            fail(where, f"KafkaTopic {topic['metadata']['name']}: {topic['spec'].get('replicas')} replicas, not 3")


def check_disruption_and_scaling(get, name):
    pdb = get("PodDisruptionBudget", name)
    selector = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if selector.get("app.kubernetes.io/name") != name:
        fail(f"PodDisruptionBudget {name}", "does not select its pods")
    hpa = (get("HorizontalPodAutoscaler", name).get("spec") or {})
    if (hpa.get("scaleTargetRef") or {}).get("name") != name or (hpa.get("minReplicas") or 1) < 2:
        fail(f"HorizontalPodAutoscaler {name}", "does not scale its Deployment with at least 2 replicas")


def main():
    mode, root, services, source = sys.argv[1], Path(sys.argv[2]).resolve(), sys.argv[3], sys.argv[4]
    services = [tuple(pair.split("=", 1)) for pair in services.split()]
    if mode == "compose":
        check_compose(root, services, json.loads(Path(source).read_text()))
        check_dockerfile(root, services)
        what = "compose file, Dockerfile and Package.swift pins"
    else:
        objects = [o for o in YAML(typ="safe").load_all(Path(source).read_text()) if o]
        check_k8s(root, services, objects)
        what = f"{len(objects)} Kubernetes objects"
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in the {what}", file=sys.stderr)
        return 1
    print(f"ok: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
