"""PyTorch baseline for the LoRA SFT bench (bench/lora-sft.ts): transformers + PEFT, LoRA r=8 alpha=16 on every
linear of the model in <model_dir>, the base in <dtype> (bfloat16 or float32) and the LoRA matrices in float32 (what
LLaMA-Factory does for `bf16: true`: base in the compute dtype, trainable parameters upcast), AdamW, random ids of
<batch> x <cutoff> tokens as their own labels, no gradient checkpointing (Retune's default too).

Prints one JSON line: tokens/s over the steps after the first (warm-up), peak RSS. Run by bench/lora-sft.ts with the
repo's .venv when it exists; Retune itself never needs Python.
usage: python bench/lora_sft_torch.py <model_dir> <dtype> <batch> <cutoff> <steps> <threads>
"""
import json
import resource
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main() -> None:
    model_dir, dtype, batch, cutoff, steps, threads = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=getattr(torch, dtype))
    model = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.0,
                                            target_modules=LINEARS))
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.data = p.data.float()
    model.train()
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.0)
    ids = torch.randint(0, 320, (batch, cutoff))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps - 1):
        step()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "tokens_per_s": (steps - 1) * batch * cutoff / seconds,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
