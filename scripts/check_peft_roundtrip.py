# The reverse interop check: Python PEFT and transformers load what Retune wrote and compute the same logits.
# Never run by CI (needs torch, transformers, peft). From the repository root:
#   npx tsc -p tsconfig.json && node dist/scripts/peft-roundtrip.js /tmp/retune-roundtrip
#   .venv/bin/python scripts/check_peft_roundtrip.py /tmp/retune-roundtrip
# peft-roundtrip.js trains each adapter kind a few steps with Retune, saves it in PEFT layout, exports the merged
# model, and writes the logits Retune computes on fixed ids (cases.json). This script loads each adapter with
# PeftModel.from_pretrained onto the base model and each exported folder with AutoModelForCausalLM, and compares.
import json
import os
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

TOLERANCE = 1e-4


def logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor(ids)).logits.float()


def main(work_dir):
    with open(os.path.join(work_dir, "cases.json")) as f:
        cases = json.load(f)
    worst = 0.0
    for case in cases:
        ids = case["ids"]
        expected = torch.tensor(case["logits"]).reshape(len(ids), len(ids[0]), -1)
        base = AutoModelForCausalLM.from_pretrained(case["base"], dtype=torch.float32).eval()
        with_adapter = PeftModel.from_pretrained(base, case["adapter"]).eval()
        adapter_diff = (logits(with_adapter, ids) - expected).abs().max().item()
        merged = AutoModelForCausalLM.from_pretrained(case["export"], dtype=torch.float32).eval()
        export_diff = (logits(merged, ids) - expected).abs().max().item()
        print(f"{case['name']}: PEFT adapter max |diff| {adapter_diff:.3e}, exported model max |diff| {export_diff:.3e}"
              f" (adapter moved logits by up to {case['moved']:.3e})")
        worst = max(worst, adapter_diff, export_diff)
    print(f"worst max |diff| {worst:.3e} (tolerance {TOLERANCE:g})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: check_peft_roundtrip.py <work dir written by dist/scripts/peft-roundtrip.js>")
    sys.exit(main(sys.argv[1]))
