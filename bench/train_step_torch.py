"""PyTorch baseline for `npm run bench`: one training step (forward + backward + AdamW) of a stories15M-like Llama.

Prints one JSON line: tokens/s, model GFLOP/s, peak RSS, user/system CPU seconds. Run by bench/train-step.ts with
the repo's .venv when it exists; Retune itself never needs Python.
usage: python bench/train_step_torch.py <threads> <steps> [bf16]
bf16: the forward under torch.autocast("cpu", bfloat16), float32 parameters -- HF Trainer's `bf16` on CPU.
"""
import json
import resource
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main() -> None:
    threads, steps = int(sys.argv[1]), int(sys.argv[2])
    bf16 = len(sys.argv) > 3 and sys.argv[3] == "bf16"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=288, intermediate_size=768, num_hidden_layers=6, num_attention_heads=6,
                         num_key_value_heads=6, vocab_size=32000, max_position_embeddings=256,
                         tie_word_embeddings=True, attn_implementation="eager")
    model = LlamaForCausalLM(config).float().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    B, T = 8, 256
    ids = torch.randint(0, config.vocab_size, (B, T))
    params = sum(p.numel() for p in model.parameters())
    flops_per_token = 6 * params + 12 * config.num_hidden_layers * config.hidden_size * T // 2

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        return loss.item()

    step()  # warm-up: first-touch allocations and lazy init
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    elapsed = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    tokens = B * T * steps
    print(json.dumps({
        "tokens_per_s": tokens / elapsed,
        "gflops": tokens * flops_per_token / elapsed / 1e9,
        "peak_rss_mb": usage1.ru_maxrss / 1024,
        "user_s": usage1.ru_utime - usage0.ru_utime,
        "sys_s": usage1.ru_stime - usage0.ru_stime,
        "params": params,
    }))


if __name__ == "__main__":
    main()
