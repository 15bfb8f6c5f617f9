#!/usr/bin/env bash
# Every Mermaid diagram in the repository's Markdown parses (mermaid's parser in
# jsdom, no browser). Installs mermaid and jsdom from npm into a cache folder
# (EVENTLY_NODE_TOOLS, default ~/.cache/evently-node-tools) the first time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="${EVENTLY_NODE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/evently-node-tools}"
if [ ! -d "$tools/node_modules/mermaid" ] || [ ! -d "$tools/node_modules/jsdom" ]; then
  echo "check-mermaid: installing mermaid and jsdom into $tools" >&2
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --silent mermaid@11 jsdom >/dev/null
fi
cd "$root"
mapfile -t files < <(git ls-files '*.md' 2>/dev/null || find . -name '*.md' -not -path './target/*' -not -path './node_modules/*')
[ ${#files[@]} -gt 0 ] || { echo "no Markdown files"; exit 0; }
# ESM resolves packages from the script's folder: run a copy placed in the tools folder.
cp tests-deploy/mermaid/parse.mjs "$tools/parse.mjs"
node "$tools/parse.mjs" "${files[@]}"
