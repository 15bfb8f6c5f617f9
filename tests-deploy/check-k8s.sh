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

mapfile -t manifests < <(find k8s -name '*.yaml' ! -name kustomization.yaml | sort)
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

for base in k8s/base; do
  "$py" tests-deploy/check_k8s.py "$base" "$root"
done
