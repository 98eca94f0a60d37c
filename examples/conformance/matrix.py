#!/usr/bin/env python3
"""Check every export of the conformance matrix with the `secc` binary and write the table.

    python examples/conformance/matrix.py --secc target/debug/secc --dir target/conformance \\
        [--only bert,gpt2] [--exporters ts17,dynamo18] [--inits hf] \\
        [--docs docs/frontend.md] [--check examples/conformance/supported.txt]

For each row of `<dir>/manifest.json` (written by export_matrix.py), through the CLI only:

  reference  `secc reference MODEL.onnx --input IN --json`; max abs difference to onnxruntime's
             fp32 outputs, bound REF_BOUND (1e-4)
  puma       `secc compile --mode puma --seq-len 12 --batch 2`, `secc run --json` (three
             in-process parties): max abs difference of the MPC outputs to onnxruntime, bound
             MPC_BOUND (see below); the rounds and the most bytes any party sent
  secformer  `secc compile --mode secformer` succeeds (its approximations are for distilled
             models, so a stock model's outputs are not bounded)

MPC_BOUND: 0.05 absolute on the matrix's outputs (encoder hidden states of unit scale after
LayerNorm; decoder logits of magnitude below 1 at initializer_range 0.02). puma mode on a stock
model is an approximation (exp by (1 + x/32)^32, GeLU and the reciprocal square root by
segments/iterations in fixed point with 16 fraction bits); on the committed fixtures it stays
within 1e-2 of the compiled program's plaintext interpreter, and the interpreter within a few
1e-2 of fp32.

A row passes when all three hold. Its first failure is recorded with the exact `error:` line
secc printed (or the exporter's error). Results go to `<dir>/results.json`; with --docs, the
table between the markers `<!-- conformance-matrix:begin -->` / `<!-- conformance-matrix:end -->`
and the op list between `<!-- onnx-ops:begin -->` / `<!-- onnx-ops:end -->` are regenerated.

--check FILE: FILE lists row ids (`arch/exporter/init`, `#` comments) that are supported; the
script exits 1 if any listed row among those run fails (a regression), and only reports rows that
pass without being listed. --write-supported FILE rewrites FILE with the rows that passed.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx

REF_BOUND = 1e-4
MPC_BOUND = 5e-2
TIMEOUT_S = 900
PROTOCOL = {"public", "secret"}


def run(cmd, timeout=TIMEOUT_S):
    started = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s: {' '.join(map(str, cmd[:2]))}", timeout
    secs = time.time() - started
    if p.returncode != 0:
        lines = [l for l in p.stderr.splitlines() if l.startswith("error")] or \
            p.stderr.strip().splitlines()[-1:] or [f"exit status {p.returncode}"]
        return None, lines[0].strip(), secs
    return p.stdout, None, secs


def outputs(obj):
    return [(o["name"], list(o["shape"]), np.asarray(o["data"], dtype=np.float64))
            for o in obj["outputs"]]


def max_diff(got, want):
    """Max abs difference over outputs matched by position; shape mismatches are errors."""
    if len(got) != len(want):
        raise ValueError(f"{len(got)} outputs, onnxruntime has {len(want)}")
    worst = 0.0
    for (gn, gs, gd), (wn, ws, wd) in zip(got, want):
        if gs != ws:
            raise ValueError(f"output '{gn}' has shape {gs}, onnxruntime's '{wn}' {ws}")
        worst = max(worst, float(np.abs(gd - wd).max()))
    return worst


def check_row(secc, base, work, row):
    """Runs one row; returns the result dict."""
    res = dict(id=row["id"], arch=row["arch"], exporter=row["exporter"], init=row["init"])
    if "export_error" in row:
        res["error"] = f"export: {row['export_error']}"
        res["stage"] = "export"
        return res
    model, inp = row["onnx"], row["input"]
    want = outputs(json.loads((base / row["expected"]).read_text()))
    shape = ["--seq-len", str(row["seq"]), "--batch", str(row["batch"])]

    out, err, secs = run([secc, "reference", model, "--input", inp, "--json"])
    res["reference_s"] = round(secs, 1)
    if err:
        res.update(stage="reference", error=err)
        return res
    try:
        res["reference_error"] = max_diff(outputs(json.loads(out)), want)
    except ValueError as e:
        res.update(stage="reference", error=f"reference: {e}")
        return res

    work.mkdir(parents=True, exist_ok=True)
    stem = row["id"].replace("/", "_")
    puma = str(work / f"{stem}.puma.secc")
    irdir = work / f"{stem}.ir"
    _, err, secs = run([secc, "compile", model, *shape, "--mode", "puma", "-o", puma,
                        "--emit-ir", str(irdir)])
    res["compile_puma_s"] = round(secs, 1)
    res["ir"] = str(irdir / "00-frontend.ir")
    if err:
        res.update(stage="compile puma", error=err)
        return res
    out, err, _ = run([secc, "inspect", puma, "--json"])
    if not err:
        # The ONNX nodes the client computes in its prologue (placed as "client prologue").
        res["client_origins"] = json.loads(out).get("prologue", {}).get("origins", [])
    out, err, secs = run([secc, "run", puma, "--input", inp, "--json"])
    res["run_puma_s"] = round(secs, 1)
    if err:
        res.update(stage="run puma", error=err)
        return res
    got = json.loads(out)
    try:
        res["mpc_error"] = max_diff(outputs(got), want)
    except ValueError as e:
        res.update(stage="run puma", error=f"run: {e}")
        return res
    res["mpc_vs_program"] = max(got.get("max_abs_error", {}).values(), default=None)
    res["rounds"] = got["rounds"]
    res["mb_per_party"] = max(got["bytes_sent"]) / 1e6

    sec = str(work / f"{stem}.secformer.secc")
    _, err, secs = run([secc, "compile", model, *shape, "--mode", "secformer", "-o", sec])
    res["compile_secformer_s"] = round(secs, 1)
    if err:
        res.update(stage="compile secformer", error=err)
        return res
    if res["reference_error"] > REF_BOUND:
        res.update(stage="reference", error=f"reference differs from onnxruntime by "
                   f"{res['reference_error']:.2e} > {REF_BOUND:g}")
    elif res["mpc_error"] > MPC_BOUND:
        res.update(stage="run puma", error=f"MPC differs from onnxruntime by "
                   f"{res['mpc_error']:.2e} > {MPC_BOUND:g}")
    else:
        res["pass"] = True
    return res


# --------------------------------------------------------------------------- where ops run

IR_LINE = re.compile(r"^%\d+ = (\S+).*? : (\w+) (\w+) \[[^\]]*\]\s+# (.*)$")


def placements(results, base, manifest_rows):
    """ONNX op type -> {where -> count} from the frontend IR of every compiled row: each IR node
    is attributed to the ONNX node it came from (its `# origin`) and counted by its visibility.
    Also op type -> rows whose export has it, and -> those of them that compiled."""
    by_id = {r["id"]: r for r in manifest_rows}
    seen = collections.defaultdict(collections.Counter)
    present = collections.defaultdict(set)
    compiled = collections.defaultdict(set)
    for res in results:
        row = by_id[res["id"]]
        if "ops" not in row:
            continue
        for op in row["ops"]:
            present[op].add(res["id"])
        ir = Path(res["ir"]) if res.get("ir") else None
        if not ir or not ir.exists() or res.get("stage") == "compile puma":
            continue
        for op in row["ops"]:
            compiled[op].add(res["id"])
        client = set(res.get("client_origins", ()))
        m = onnx.load(str(base / row["onnx"]), load_external_data=False)
        op_of = {n.name: n.op_type for n in m.graph.node}
        for line in ir.read_text().splitlines():
            mt = IR_LINE.match(line)
            if not mt:
                continue
            ir_op, vis, origin = mt.group(1), mt.group(2), mt.group(4).strip()
            op = op_of.get(origin)
            if op is None or ir_op.startswith(("param", "input", "const")):
                continue
            seen[op]["client prologue" if origin in client else vis] += 1
    return seen, present, compiled


def supported_list(repo):
    """SUPPORTED_ONNX_OPS from compiler/src/frontend/mod.rs (the list the error message prints)."""
    text = (repo / "compiler/src/frontend/mod.rs").read_text()
    block = text.split("SUPPORTED_ONNX_OPS", 1)[1].split("];", 1)[0]
    return re.findall(r'"([^"]+)"', block)


# --------------------------------------------------------------------------- tables

def fmt_err(x):
    return "" if x is None else f"{x:.1e}"


def matrix_table(results):
    lines = ["| architecture | exporter | init | compiles (puma / secformer) | reference error "
             "| MPC error (puma) | rounds | MB per party | status |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        stage = r.get("stage")
        if stage in ("export", "reference") and "reference_error" not in r:
            compiles = "-"
        elif stage == "compile puma":
            compiles = "no / -"
        elif stage == "compile secformer":
            compiles = "yes / no"
        elif "rounds" in r or stage == "run puma":
            compiles = "yes / yes" if "compile_secformer_s" in r else "yes / -"
        else:
            compiles = "-"
        status = "ok" if r.get("pass") else "`" + r["error"].replace("|", "\\|") + "`"
        mb = f"{r['mb_per_party']:.2f}" if "mb_per_party" in r else ""
        lines.append(f"| {r['arch']} | {r['exporter']} | {r['init']} | {compiles} | "
                     f"{fmt_err(r.get('reference_error'))} | {fmt_err(r.get('mpc_error'))} | "
                     f"{r.get('rounds', '')} | {mb} | {status} |")
    return "\n".join(lines)


def ops_table(seen, present, compiled, supported):
    listed = {op.split(" ")[0]: op for op in supported}
    lines = ["| ONNX op | in SUPPORTED_ONNX_OPS | rows with it (compiled) "
             "| where it runs (IR nodes of the compiled rows: client prologue, public or secret) |",
             "|---|---|---|---|"]
    for op in sorted(set(listed) | set(present)):
        n, c = len(present.get(op, ())), len(compiled.get(op, ()))
        where = seen.get(op)
        if where:
            place = ", ".join(f"{k} {v}" for k, v in sorted(where.items()))
        elif c:
            place = "no IR node of its own (folded by tract, or fused into a neighbour)"
        elif n:
            place = "no row with it compiles yet"
        else:
            place = "not in the matrix"
        mark = "yes" + (listed[op][len(op):] if op in listed else "") if op in listed else "no"
        lines.append(f"| {op} | {mark} | {n} ({c}) | {place} |")
    return "\n".join(lines)


def replace_between(text, name, body):
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in text or end not in text:
        raise SystemExit(f"matrix.py: markers {begin} / {end} missing")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def read_supported(path):
    if not path or not Path(path).exists():
        return set()
    return {l.split("#")[0].strip() for l in Path(path).read_text().splitlines()} - {""}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--secc", required=True)
    ap.add_argument("--dir", required=True, type=Path)
    ap.add_argument("--only")
    ap.add_argument("--exporters")
    ap.add_argument("--inits")
    ap.add_argument("--docs", type=Path)
    ap.add_argument("--check", type=Path)
    ap.add_argument("--write-supported", type=Path)
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[2]
    manifest = json.loads((args.dir / "manifest.json").read_text())
    rows = manifest["rows"]
    for flag, key in ((args.only, "arch"), (args.exporters, "exporter"), (args.inits, "init")):
        if flag:
            rows = [r for r in rows if r[key] in flag.split(",")]
    results = []
    # Error lines name the exports by OUT_DIR-relative paths, so the table does not depend on
    # where the matrix ran.
    args.dir = args.dir.resolve()
    args.secc = str(Path(args.secc).resolve())
    for name in ("docs", "check", "write_supported"):
        if getattr(args, name):
            setattr(args, name, getattr(args, name).resolve())
    os.chdir(args.dir)
    for row in rows:
        started = time.time()
        res = check_row(args.secc, args.dir, Path("work"), row)
        res["total_s"] = round(time.time() - started, 1)
        status = "ok" if res.get("pass") else res["error"]
        print(f"{res['id']}: ref {fmt_err(res.get('reference_error'))} mpc "
              f"{fmt_err(res.get('mpc_error'))} ({res['total_s']} s) {status}", file=sys.stderr)
        results.append(res)
    (args.dir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    passed = sum(1 for r in results if r.get("pass"))
    print(f"matrix.py: {passed} of {len(results)} rows pass", file=sys.stderr)

    if args.docs:
        seen, present, compiled = placements(results, args.dir, manifest["rows"])
        text = args.docs.read_text()
        versions = (f"torch {manifest['torch']}, transformers {manifest['transformers']}, "
                    f"onnx {manifest['onnx']}, onnxruntime {manifest['onnxruntime']}")
        text = replace_between(text, "conformance-matrix",
                               f"Generated by `examples/conformance/run.sh` ({versions}); "
                               f"{passed} of {len(results)} rows pass.\n\n"
                               + matrix_table(results))
        text = replace_between(text, "onnx-ops", ops_table(seen, present, compiled, supported_list(repo)))
        args.docs.write_text(text)
    if args.write_supported:
        ids = [r["id"] for r in results if r.get("pass")]
        args.write_supported.write_text(
            "# Rows of the conformance matrix that pass (examples/conformance/run.sh writes this;\n"
            "# CI fails when one of them stops passing).\n" + "\n".join(ids) + "\n")
    if args.check:
        supported = read_supported(args.check)
        regressed = [r for r in results if r["id"] in supported and not r.get("pass")]
        newly = [r["id"] for r in results if r["id"] not in supported and r.get("pass")]
        for r in newly:
            print(f"matrix.py: note: {r} passes but is not listed in {args.check}", file=sys.stderr)
        for r in regressed:
            print(f"matrix.py: error: supported row {r['id']} fails: {r['error']}",
                  file=sys.stderr)
        ran = {r["id"] for r in results}
        if not ran & supported:
            print(f"matrix.py: error: none of the rows run is listed in {args.check}",
                  file=sys.stderr)
            return 1
        if regressed:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
