#!/usr/bin/env bash
# Validates the Kubernetes manifests without a cluster and without network access:
#   1. every manifest in k8s/ against the Kubernetes JSON schemas, strictly (unknown
#      fields are errors), with the `kubernetes-validate` Python package, which ships
#      the schemas (installed from PyPI when missing);
#   2. tests-deploy/check_k8s.py: the kustomization lists every file, selectors,
#      probes on /health, requests and limits, HPAs, PDBs, StatefulSets, references.
# K8S_VERSION picks the schema version (default: the package's newest).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

py=python3
if ! "$py" -c 'import kubernetes_validate' 2>/dev/null; then
  echo "check-k8s: installing kubernetes-validate from PyPI" >&2
  "$py" -m pip install --quiet kubernetes-validate 2>/dev/null \
    || "$py" -m pip install --quiet --break-system-packages kubernetes-validate
fi

# The base's files are whole manifests; overlays hold patches, checked once rendered (3).
mapfile -t manifests < <(find k8s/base -name '*.yaml' ! -name kustomization.yaml | sort)
if [ "${#manifests[@]}" -eq 0 ]; then
  echo "FAIL no manifests under k8s/" >&2
  exit 1
fi

args=(--strict --quiet)
[ -n "${K8S_VERSION:-}" ] && args+=(-k "$K8S_VERSION")
# Prove it needs no network: run in an empty network namespace when we can.
runner=()
if unshare -rn true 2>/dev/null; then runner=(unshare -rn); fi
"${runner[@]}" "$py" -m kubernetes_validate "${args[@]}" "${manifests[@]}"
echo "ok: ${#manifests[@]} manifest files valid against the Kubernetes schemas${runner:+ (offline)}"

"$py" tests-deploy/check_k8s.py k8s/base "$root"

# 3. What `kubectl apply -k` would send, for the base and every overlay: render the
#    kustomization (kubectl's built-in kustomize) and validate the result too
#    (namespace, image and label transforms, patches).
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  for dir in $(find k8s -name kustomization.yaml -exec dirname {} \; | sort); do
    out="$tmp/$(echo "$dir" | tr / _).yaml"
    kubectl kustomize "$dir" >"$out"
    "${runner[@]}" "$py" -m kubernetes_validate "${args[@]}" "$out"
    "$py" - "$out" "$dir" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
bad = []
kinds = {d["kind"] for d in docs}
for d in docs:
    kind, meta = d["kind"], d["metadata"]
    if kind != "Namespace" and meta.get("namespace") != "evently":
        bad.append(f"{kind}/{meta['name']}: namespace {meta.get('namespace')!r}, not evently")
    for c in (d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])):
        if c["image"] == "evently":
            bad.append(f"{kind}/{meta['name']}: image `evently` was not given a registry/tag by kustomize images")
for need in ("Deployment", "StatefulSet", "Service", "ConfigMap", "HorizontalPodAutoscaler"):
    if need not in kinds:
        bad.append(f"no {need} in the rendered output")
for b in bad:
    print("FAIL", sys.argv[2], b)
if bad:
    sys.exit(1)
print(f"ok: kubectl kustomize {sys.argv[2]} renders {len(docs)} resources, all valid, all in namespace evently")
PY
  done
else
  echo "SKIPPED rendering the kustomizations: kubectl not installed"
fi
