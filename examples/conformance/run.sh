#!/usr/bin/env bash
# The conformance matrix of Hugging Face architectures and exporters (docs/frontend.md,
# "Conformance matrix"): exports small random-init models with the pinned Python environment of
# examples/third_party/requirements.txt, checks each export with the `secc` binary (reference
# against onnxruntime, puma-mode MPC run, secformer compile) and regenerates the table in
# docs/frontend.md.
#
#   examples/conformance/run.sh OUT_DIR [VENV_DIR]      # the whole matrix, rewrites the docs
#   examples/conformance/run.sh --slice ci OUT_DIR [VENV_DIR]
#                                                       # CI's slice: no docs; fails when a row
#                                                       # listed in supported.txt fails
#
# VENV_DIR defaults to OUT_DIR/../ci-pyenv and is installed (once, reused while requirements.txt
# is unchanged) exactly as examples/third_party/make_exports.sh does. Exports and programs are
# written under OUT_DIR (never committed). Builds `secc` once (cargo build -p secc, dev profile).
# Extra selection for a full run: MATRIX_ONLY=bert,gpt2 MATRIX_EXPORTERS=ts17,dynamo18
# MATRIX_INITS=hf (a partial run does not rewrite docs/frontend.md).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
slice=""
if [ "${1:-}" = "--slice" ]; then
    slice=${2:?--slice needs a name (ci)}
    shift 2
fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 [--slice ci] OUT_DIR [VENV_DIR]" >&2
    exit 2
fi
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
venv=${2:-$(dirname "$out")/ci-pyenv}
req=$repo/examples/third_party/requirements.txt
python=${SECC_PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

if ! cmp -s "$req" "$venv/secc-requirements.txt"; then
    if ! command -v "$python" >/dev/null; then
        echo "run.sh: error: no Python interpreter '$python' (set SECC_PYTHON)" >&2
        exit 1
    fi
    echo "run.sh: installing the pinned packages of $req into $venv (about 4 GB)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    if ! "$venv/bin/pip" install --quiet --no-cache-dir -r "$req"; then
        echo "run.sh: error: pip could not install $req into $venv" >&2
        exit 1
    fi
    cp "$req" "$venv/secc-requirements.txt"
fi

only=${MATRIX_ONLY:-}
exporters=${MATRIX_EXPORTERS:-ts14,ts17,dynamo18}
inits=${MATRIX_INITS:-hf,trained}
check=()
docs=(--docs "$repo/docs/frontend.md")
case "$slice" in
    "") ;;
    ci)
        # BERT, RoBERTa and GPT-2 with both exporters and both initialisations: the encoder and
        # decoder paths, the CumSum prologue, default-initialised LayerNorm (12 rows).
        only=bert,roberta,gpt2
        exporters=ts17,dynamo18
        inits=hf,trained
        check=(--check "$here/supported.txt")
        docs=()
        ;;
    *)
        echo "run.sh: error: unknown slice '$slice' (known: ci)" >&2
        exit 2
        ;;
esac
if [ -n "$only" ] || [ "$exporters" != ts14,ts17,dynamo18 ] || [ "$inits" != hf,trained ]; then
    docs=()
fi

started=$(date +%s)
(cd "$repo" && cargo build --locked -q -p secc --bin secc)
secc=$repo/target/debug/secc
echo "run.sh: exporting into $out" >&2
"$venv/bin/python" "$here/export_matrix.py" --out-dir "$out" ${only:+--only "$only"} \
    --exporters "$exporters" --inits "$inits"
echo "run.sh: exports done in $(($(date +%s) - started)) s; checking them with $secc" >&2
"$venv/bin/python" "$here/matrix.py" --secc "$secc" --dir "$out" "${docs[@]}" "${check[@]}"
echo "run.sh: done in $(($(date +%s) - started)) s" >&2
