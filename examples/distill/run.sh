#!/usr/bin/env bash
# Distils all-MiniLM-L6-v2 into a student for `secc compile --mode secformer` (README.md here).
#
#   examples/distill/run.sh OUT_DIR [--gelu relu] [--layernorm affine] [--softmax relu]
#                           [--smoke] [other distill.py flags]
#
# Writes OUT_DIR/student.onnx (output sentence_embedding), tokenizer.json, compile-flags (the
# `secc compile` flags, one line), report.json and the logs; fails unless `secc reference` of
# the compiled program equals the PyTorch student within 1e-3.
#
# Environment:
#   SECC         the secc binary (default: build the repository's with `cargo build -p secc`)
#   SECC_PYENV   a venv to use as it is; otherwise the pinned packages of
#                examples/third_party/requirements.txt are installed into DISTILL_VENV
#                (default OUT_DIR/../ci-pyenv, shared with make_exports.sh) when it lacks them
#   SECC_PYTHON  the CPython 3.11 that makes that venv (default python3)
#   WORDNET_DIR  a directory of WordNet 3.0's data.* files; otherwise Debian's wordnet-base
#                package is downloaded with `apt-get download` (no root needed) into OUT_DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ $# -lt 1 ] || [[ $1 == -* ]]; then
    echo "usage: $0 OUT_DIR [--gelu relu] [--layernorm affine] [--softmax relu] [--smoke]" >&2
    exit 2
fi
out=$1
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
started=$(date +%s)

# 1. Python: the accuracy check's pinned environment (torch, transformers, the weights).
if [ -n "${SECC_PYENV:-}" ]; then
    venv=$SECC_PYENV
else
    venv=${DISTILL_VENV:-$(dirname "$out")/ci-pyenv}
    req=$repo/examples/third_party/requirements.txt
    if ! cmp -s "$req" "$venv/secc-requirements.txt"; then
        python=${SECC_PYTHON:-python3}
        echo "run.sh: installing the pinned packages of $req into $venv (about 4 GB)" >&2
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/pip" install --quiet --no-cache-dir -r "$req"
        cp "$req" "$venv/secc-requirements.txt"
    fi
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "run.sh: error: no Python in the venv $venv" >&2
    exit 1
fi

# 2. The corpus: WordNet 3.0 from Debian's wordnet-base.
wordnet=${WORDNET_DIR:-}
if [ -z "$wordnet" ]; then
    wordnet=$out/wordnet/usr/share/wordnet
    if [ ! -f "$wordnet/data.noun" ]; then
        mkdir -p "$out/wordnet"
        # apt-get download writes into the current directory; a fresh machine may need the lists.
        if ! (cd "$out/wordnet" && apt-get download wordnet-base >/dev/null 2>&1); then
            apt-get update >/dev/null 2>&1 || true
            if ! (cd "$out/wordnet" && apt-get download wordnet-base >&2); then
                echo "run.sh: error: could not download Debian's wordnet-base (set WORDNET_DIR)" >&2
                exit 1
            fi
        fi
        deb=$(ls "$out/wordnet"/wordnet-base_*.deb | head -n1)
        dpkg-deb -x "$deb" "$out/wordnet"
        echo "run.sh: corpus $(basename "$deb") ($(sha256sum "$deb" | cut -c1-16)...)" >&2
    fi
fi
if [ ! -f "$wordnet/data.noun" ]; then
    echo "run.sh: error: $wordnet has no WordNet data.noun" >&2
    exit 1
fi

# 3. secc.
secc=${SECC:-}
if [ -z "$secc" ]; then
    (cd "$repo" && cargo build -q -p secc)
    secc=$repo/target/debug/secc
fi

"$venv/bin/python" "$here/distill.py" --out-dir "$out" --wordnet "$wordnet" --secc "$secc" "$@" \
    2>&1 | tee "$out/distill.log"
echo "run.sh: done in $(($(date +%s) - started)) s" | tee -a "$out/distill.log" >&2
