"""Cross-checks the kustomize base in k8s/base beyond what the schemas can see.

Usage: check_k8s.py K8S_BASE_DIR REPO_ROOT

The schema validation itself is kubernetes-validate (see check-k8s.sh); this checks
that the pieces fit together: every file is in the kustomization, every Service and
PodDisruptionBudget selects pods that exist, probes, resources, HPAs, references to
ConfigMaps and Secrets, and that the commands name real binaries.
"""

import pathlib
import re
import sys

import yaml

SERVICES = {
    "gateway-service": 8080,
    "auth-service": 8081,
    "event-service": 8082,
    "booking-service": 8083,
    "waitlist-service": 8084,
    "notification-service": 8085,
}
STATEFUL = {"kafka", "postgres", "mongo"}
HPA_TARGETS = {"gateway-service", "booking-service"}
# Created by the operator before the first deploy (docs/deployment.md), never committed.
EXTERNAL_SECRETS = {"evently-auth-signing-key"}

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def load(base):
    docs = []
    for path in sorted(base.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def bin_names(root):
    names = set()
    for manifest in root.glob("services/*/Cargo.toml"):
        for block in re.findall(r"\[\[bin\]\](.*?)(?=\n\[|\Z)", manifest.read_text(), re.S):
            m = re.search(r'name\s*=\s*"([^"]+)"', block)
            if m:
                names.add(m.group(1))
    return names


def main():
    base = pathlib.Path(sys.argv[1])
    root = pathlib.Path(sys.argv[2])
    kust = yaml.safe_load((base / "kustomization.yaml").read_text())
    files = {p.name for p in base.glob("*.yaml")} - {"kustomization.yaml"}
    listed = set(kust.get("resources", []))
    check(listed == files, f"kustomization.yaml resources {sorted(listed)} != files {sorted(files)}")
    docs = load(base)
    by_kind = {}
    for name, doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)

    namespaces = [d["metadata"]["name"] for d in by_kind.get("Namespace", [])]
    check(kust.get("namespace") in namespaces, "kustomization namespace has no Namespace manifest")

    workloads = {d["metadata"]["name"]: d for k in ("Deployment", "StatefulSet") for d in by_kind.get(k, [])}
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}
    bins = bin_names(root)

    # The broker: the same Apache Kafka the local stack fetches.
    local_kafka = re.search(r"<kafka.version>(.+)</kafka.version>", (root / "deploy/kafka-local/pom.xml").read_text()).group(1)
    kafka_images = [c.get("image", "") for c in (workloads.get("kafka") or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])]
    check(kafka_images == [f"apache/kafka:{local_kafka}"],
          f"kafka: should run apache/kafka:{local_kafka} (deploy/kafka-local/pom.xml), got {kafka_images}")

    # The six services.
    for name, port in SERVICES.items():
        dep = workloads.get(name)
        if not check(dep is not None and dep["kind"] == "Deployment", f"{name}: no Deployment"):
            continue
        spec = dep["spec"]["template"]["spec"]
        container = spec["containers"][0]
        check(container.get("command") == [name] and name in bins,
              f"{name}: command {container.get('command')} is not the binary {name}")
        check(container.get("image", "").split(":")[0] == "evently",
              f"{name}: image should be `evently` (kustomize `images` sets the registry and tag)")
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        check(ports.get("http") == port, f"{name}: container port http should be {port}")
        for probe in ("readinessProbe", "livenessProbe"):
            spec_probe = container.get(probe) or {}
            http = spec_probe.get("httpGet") or {}
            # The gateway's /health aggregates the services behind it; its liveness
            # may only look at the process itself.
            if name == "gateway-service" and probe == "livenessProbe" and "tcpSocket" in spec_probe:
                continue
            check(http.get("path") == "/health", f"{name}: {probe} should GET /health")
        res = container.get("resources") or {}
        for kind in ("requests", "limits"):
            check({"cpu", "memory"} <= set((res.get(kind) or {}).keys()),
                  f"{name}: resources.{kind} needs cpu and memory")
        check(spec.get("securityContext", {}).get("runAsNonRoot") is True, f"{name}: should run as non-root")
        env_from = [e.get("configMapRef", {}).get("name") for e in container.get("envFrom", [])]
        check("evently-config" in env_from, f"{name}: should take settings from the evently-config ConfigMap")
        check(dep["spec"].get("replicas", 1) >= 2, f"{name}: at least two replicas, so a PDB can allow a drain")

    # Every workload: references resolve, Services and PDBs select something.
    for name, wl in workloads.items():
        pod = wl["spec"]["template"]
        check(matches(wl["spec"]["selector"]["matchLabels"], pod["metadata"].get("labels", {})),
              f"{name}: selector does not match its pod template labels")
        text = yaml.safe_dump(pod)
        for ref in re.findall(r"configMapRef:\s*\n\s*name: (\S+)|configMap:\s*\n\s*name: (\S+)", text):
            ref = ref[0] or ref[1]
            check(ref in configmaps, f"{name}: references missing ConfigMap {ref}")
        for c in pod["spec"]["containers"]:
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    s = secrets.get(ref["name"])
                    check(s is not None and ref["key"] in (s.get("stringData") or s.get("data") or {}),
                          f"{name}: secret {ref['name']}/{ref['key']} is not defined")
        for vol in pod["spec"].get("volumes", []):
            if "secret" in vol:
                sname = vol["secret"]["secretName"]
                check(sname in secrets or sname in EXTERNAL_SECRETS, f"{name}: unknown secret volume {sname}")

    pods = [(n, w["spec"]["template"]["metadata"].get("labels", {})) for n, w in workloads.items()]
    for svc in by_kind.get("Service", []):
        sel = svc["spec"].get("selector")
        targets = [n for n, labels in pods if matches(sel, labels)]
        check(targets, f"Service {svc['metadata']['name']} selects no workload")
    for name in SERVICES:
        svc = next((s for s in by_kind.get("Service", []) if s["metadata"]["name"] == name), None)
        check(svc is not None, f"{name}: no Service")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        sel = pdb["spec"]["selector"]["matchLabels"]
        check([n for n, labels in pods if matches(sel, labels)], f"PDB {pdb['metadata']['name']} selects no workload")
    pdb_names = {p["metadata"]["name"] for p in by_kind.get("PodDisruptionBudget", [])}
    for name in SERVICES:
        check(name in pdb_names, f"{name}: no PodDisruptionBudget")

    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind.get("HorizontalPodAutoscaler", [])}
    for name in HPA_TARGETS:
        h = hpas.get(name)
        if check(h is not None, f"{name}: no HorizontalPodAutoscaler"):
            check(h["spec"]["minReplicas"] <= h["spec"]["maxReplicas"], f"{name}: HPA min > max")
    if "booking-service" in hpas:
        check(hpas["booking-service"]["spec"]["maxReplicas"] <= 12,
              "booking-service: more replicas than booking.create partitions (12) would sit idle")
    for target in hpas:
        check(target in workloads, f"HPA targets missing workload {target}")

    for name in STATEFUL:
        sts = workloads.get(name)
        if check(sts is not None and sts["kind"] == "StatefulSet", f"{name}: should be a StatefulSet"):
            check(sts["spec"].get("volumeClaimTemplates"), f"{name}: StatefulSet without persistent volume claims")
            svc_name = sts["spec"].get("serviceName")
            svc = next((s for s in by_kind.get("Service", []) if s["metadata"]["name"] == svc_name), None)
            check(svc is not None and svc["spec"].get("clusterIP") == "None",
                  f"{name}: serviceName {svc_name} should be a headless Service")

    cm = configmaps.get("evently-config", {}).get("data", {})
    for name, port in SERVICES.items():
        prefix = name.split("-")[0].upper()
        check(cm.get(f"{prefix}__HTTP__HOST") == "0.0.0.0", f"evently-config: {prefix}__HTTP__HOST should be 0.0.0.0")
        if name != "gateway-service":
            check(cm.get(f"GATEWAY__UPSTREAMS__{prefix}") == f"http://{name}:{port}",
                  f"evently-config: GATEWAY__UPSTREAMS__{prefix} should be http://{name}:{port}")

    for name in ("waitlist", "notification"):
        check(cm.get(f"{name.upper()}__BOOKING_URL") == "http://booking-service:8083",
              f"evently-config: {name.upper()}__BOOKING_URL should be http://booking-service:8083")
    for name in ("booking-service", "notification-service"):
        envs = {e["name"]: e for c in workloads.get(name, {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
                for e in c.get("env", [])}
        key = f"{name.split('-')[0].upper()}__INTERNAL_TOKEN"
        ref = ((envs.get(key) or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        check(ref.get("name") == "evently-secrets" and ref.get("key") == "INTERNAL_TOKEN",
              f"{name}: {key} should come from evently-secrets/INTERNAL_TOKEN")

    for message in failures:
        print(f"FAIL {message}")
    if not failures:
        print(f"ok: {len(docs)} manifests cross-checked ({len(workloads)} workloads)")
    return min(len(failures), 100)


if __name__ == "__main__":
    sys.exit(main())
