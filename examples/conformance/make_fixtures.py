#!/usr/bin/env python3
"""Commit-sized regression fixtures from the conformance matrix: exports of rows that a frontend
fix made pass, written into examples/models/ with their input and onnxruntime's outputs (the
layout examples/models/make_fixtures.py uses, so tests/frontend.rs checks `secc reference`
against them and tests/conformance.rs runs them in MPC).

    HF_HUB_OFFLINE=1 /work/pyenv/bin/python examples/conformance/make_fixtures.py

  deberta_v2_dynamo18.onnx  DebertaV2Model, dynamo exporter (opset 18), trained-like parameters:
                            GatherElements by constant relative-position indices, and the
                            attention mask as masked_fill (Where(mask, -3.4e38, scores)) before
                            Softmax
Same packages as export_matrix.py; deterministic (fixed seeds).
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export_matrix as em  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "models"
FIXTURES = [("deberta-v2", "dynamo18", "trained", "deberta_v2_dynamo18", "deberta")]


def main():
    for arch, exporter, init, stem, input_name in FIXTURES:
        spec = em.ARCHS[arch]
        feeds = em.make_inputs(arch, spec)
        with tempfile.TemporaryDirectory() as tmp:
            entry = em.export_row(Path(tmp), arch, spec, exporter, init, feeds)
            if "export_error" in entry:
                sys.exit(f"{stem}: {entry['export_error']}")
            shutil.copyfile(Path(tmp) / entry["onnx"], MODELS / f"{stem}.onnx")
            expected = json.loads((Path(tmp) / entry["expected"]).read_text())
        (MODELS / "inputs" / f"{input_name}.json").write_text(
            json.dumps({k: v.tolist() for k, v in feeds.items()}, separators=(",", ":")) + "\n")
        (MODELS / "expected" / f"{stem}__{input_name}.json").write_text(
            json.dumps(expected, separators=(",", ":")) + "\n")
        print(f"wrote {stem}.onnx ({(MODELS / f'{stem}.onnx').stat().st_size} B)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
