#!/usr/bin/env python3
"""Side-by-side benchmark: PUMA on SecretFlow-SPU against `secc bench` in both modes, back to
back on this machine, in one sitting, so that the speed ratios compare like with like.

    python3 examples/bench/side_by_side.py [--shape base|tiny] [--repeat N] [--out FILE.jsonl]
        [--spu-venv DIR] [--puma-script PATH] [--secc PATH] [--modes secformer,puma]

What it does, in order:
  1. builds `secc` in release (`cargo build --release -p secc`) unless --secc names a binary, and
     copies it to a temporary directory so that a concurrent build cannot replace it mid-run;
  2. makes the PUMA peer's venv if it is missing (spu 0.9.5, flax 0.8.5, transformers 4.46.3,
     the versions the peer script pins);
  3. for each repetition, runs PUMA, then `secc bench --mode M` for each mode, one after the
     other (never concurrently), recording the 1-minute load average before each run;
  4. prints a Markdown table (medians over the repetitions) with the ratios PUMA exec_s / secc
     MPC wall time, plus the date, commit and machine, and appends every raw JSON line to --out.

Only public tools are used (cargo, the peer's own script, /proc). Needs about 13 GB of free
memory for BERT-base (PUMA's peak) and roughly 4 minutes per repetition on 2 cores.
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHAPES = {
    # BERT-base at 128 tokens: the shape of brief §6.
    "base": {"layers": 12, "hidden": 768, "heads": 12, "inter": 3072, "vocab": 30522, "seq": 128},
    # A smoke test of the script itself (seconds, not minutes).
    "tiny": {"layers": 2, "hidden": 128, "heads": 2, "inter": 512, "vocab": 30522, "seq": 128},
}
SPU_PACKAGES = ["spu==0.9.5", "flax==0.8.5", "transformers==4.46.3"]


def log(message):
    print(f"side_by_side: {message}", file=sys.stderr, flush=True)


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {"cpus": os.cpu_count(), "cpu": model, "mem_gib": round(mem_kb / 2**20, 1)}


def commit():
    try:
        out = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build_secc(scratch):
    log("building secc in release (cargo build --release -p secc)")
    subprocess.run(["cargo", "build", "--release", "--locked", "-q", "-p", "secc"], cwd=ROOT, check=True)
    binary = os.path.join(scratch, "secc")
    shutil.copy2(os.path.join(ROOT, "target", "release", "secc"), binary)
    return binary


def ensure_spu_venv(venv):
    python = os.path.join(venv, "bin", "python")
    if os.path.exists(python):
        probe = subprocess.run([python, "-c", "import spu, flax, transformers"], capture_output=True)
        if probe.returncode == 0:
            return python
    log(f"installing the PUMA peer's venv into {venv}: {' '.join(SPU_PACKAGES)}")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", *SPU_PACKAGES], check=True)
    return python


def last_json_line(text, who):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"{who} printed no JSON line:\n{text[-2000:]}")


def run(command, who):
    load = load_average()
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.time() - started
    if done.returncode != 0:
        raise RuntimeError(f"{who} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    record = last_json_line(done.stdout, who)
    record["_who"] = who
    record["_load_before"] = load
    record["_process_s"] = round(elapsed, 2)
    return record


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="base")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--modes", default="secformer,puma")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "side_by_side.jsonl"))
    ap.add_argument("--spu-venv", default="/tmp/spuenv")
    ap.add_argument("--puma-script", default=os.path.join(ROOT, "..", "shared", "bench", "puma_spu_bert.py"))
    ap.add_argument("--secc", help="an already built secc binary (default: build it in release)")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if not os.path.exists(args.puma_script):
        ap.error(f"no PUMA peer script at {args.puma_script} (give --puma-script)")
    modes = [m for m in args.modes.split(",") if m]
    shape = SHAPES[args.shape]

    scratch = tempfile.mkdtemp(prefix="secc-side-by-side-")
    try:
        secc = args.secc or build_secc(scratch)
        python = ensure_spu_venv(args.spu_venv)
        puma_cmd = [python, args.puma_script] + [f"--{k}={v}" for k, v in shape.items()]
        secc_flags = [f"--{k}={v}" for k, v in shape.items()]
        sitting = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   "commit": commit(), "machine": machine(), "shape": args.shape}
        log(f"sitting: {json.dumps(sitting)}")
        records = []
        for rep in range(args.repeat):
            log(f"repetition {rep + 1}/{args.repeat}: PUMA on SPU")
            records.append(run(puma_cmd, "puma-spu"))
            for mode in modes:
                log(f"repetition {rep + 1}/{args.repeat}: secc bench --mode {mode}")
                records.append(run([secc, "bench", "--mode", mode, "--json", *secc_flags], f"secc-{mode}"))
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "a") as f:
            for r in records:
                f.write(json.dumps({"sitting": sitting, **r}) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    puma = [r for r in records if r["_who"] == "puma-spu"]
    puma_exec = median([r.get("exec_s") for r in puma])
    print(f"Side by side, {sitting['date']}, commit {sitting['commit']}, "
          f"{sitting['machine']['cpus']} cores ({sitting['machine']['cpu']}), {sitting['machine']['mem_gib']} GiB, "
          f"shape {args.shape}, {args.repeat} repetition(s), medians; load average before each run: "
          + ", ".join(f"{r['_load_before']:.2f}" for r in records))
    print()
    print("| system | MPC time s | PUMA exec_s / this | rounds | MB sent P0 / P1 / P2 | peak GB | max abs error |")
    print("|---|---:|---:|---:|---|---:|---:|")
    print(f"| PUMA on SPU 0.9.5 (exec_s) | {puma_exec:.2f} | 1.00 | {median([r.get('party0_send_actions') for r in puma])} send actions (P0) "
          f"| {median([r.get('party0_sent_bytes') for r in puma]) / 1e6:.1f} (P0) | "
          f"{median([r.get('peak_rss_gb') for r in puma]):.2f} GiB | {median([r.get('max_abs_err') for r in puma]):.2e} |")
    for mode in modes:
        rs = [r for r in records if r["_who"] == f"secc-{mode}"]
        wall = median([r["wall_s"] for r in rs])
        sent = " / ".join(f"{median([r['bytes_sent'][i] for r in rs]) / 1e6:.1f}" for i in range(3))
        ratio = puma_exec / wall if puma_exec and wall else float("nan")
        print(f"| secc {mode} (MPC wall_s) | {wall:.2f} | {ratio:.2f} | {rs[0]['rounds']} | {sent} | "
              f"{median([r['peak_bytes'] for r in rs]) / 1e9:.2f} | {median([r['max_abs_error'] for r in rs]):.2e} |")
    print()
    print(f"raw JSON lines appended to {args.out}")


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
        log(f"error: {e}")
        sys.exit(1)
