"""transformers baseline for the decode benches (bench/decode.ts, bench/decode-large.ts): greedy `generate` on the
same model and thread count, run as a long-lived child so model loading is paid once. The model is <model_dir>, or
with `qwen2.5-0.5b-shape` a Qwen2.5-0.5B-shaped model with random bf16 weights (the shape of bench/decode-large.ts).

Reads one request per line on stdin, a JSON list of prompts (strings, or lists of token ids); decodes exactly
<tokens> new tokens for each (EOS is not allowed to end a row early), all prompts in one batch (left-padded, as a
transformers user batches them); prints one JSON line: {"tokens": new tokens in all, "seconds": wall time}.
Retune itself never needs Python.
usage: python bench/decode_transformers.py <model_dir | qwen2.5-0.5b-shape> <tokens> <threads>
"""
import json
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

QWEN25_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                  num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
                  tie_word_embeddings=True, vocab_size=151936, eos_token_id=151643)


def load(name: str):
    if name == "qwen2.5-0.5b-shape":
        torch.manual_seed(0)
        return Qwen2ForCausalLM(Qwen2Config(**QWEN25_05B)).to(torch.bfloat16).eval(), None
    tokenizer = AutoTokenizer.from_pretrained(name, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return AutoModelForCausalLM.from_pretrained(name).eval(), tokenizer


def batch_of(prompts, tokenizer):
    if isinstance(prompts[0], str):
        return tokenizer(prompts, return_tensors="pt", padding=True)
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    return {"input_ids": ids, "attention_mask": mask}


def main() -> None:
    name, tokens, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    model, tokenizer = load(name)
    pad = tokenizer.pad_token_id if tokenizer is not None else 0
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        batch = batch_of(json.loads(line), tokenizer)
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(**batch, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                                 pad_token_id=pad)
        seconds = time.perf_counter() - start
        new = (out.shape[1] - batch["input_ids"].shape[1]) * out.shape[0]
        print(json.dumps({"tokens": int(new), "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
