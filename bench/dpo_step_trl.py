"""TRL baseline for bench/dpo-step.ts: one LoRA DPO step of a stories15M-like Llama through TRL 1.13's
DPOTrainer._compute_loss (policy forward with chosen and rejected concatenated, reference forward with the adapter
disabled, sigmoid loss), then backward and AdamW. Prints one JSON line: tokens/s and peak RSS.
usage: python bench/dpo_step_trl.py <threads> <steps> <pairs> <prompt_len> <answer_len>
"""
import json
import resource
import sys
import tempfile
import time
import warnings

import torch
from datasets import Dataset
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer, models
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from trl import DPOConfig, DPOTrainer


def main() -> None:
    threads, steps, pairs, prompt_len, answer_len = (int(a) for a in sys.argv[1:6])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    warnings.simplefilter("ignore")
    config = LlamaConfig(hidden_size=288, intermediate_size=768, num_hidden_layers=6, num_attention_heads=6,
                         num_key_value_heads=6, vocab_size=32000, max_position_embeddings=256,
                         tie_word_embeddings=True, attn_implementation="eager")
    model = get_peft_model(LlamaForCausalLM(config).float(), LoraConfig(
        task_type="CAUSAL_LM", r=8, lora_alpha=16, target_modules="all-linear"))
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"a": 0, "b": 1, "c": 2}, unk_token="a")),
                                  pad_token="a", eos_token="b")
    ds = Dataset.from_list([{"prompt": "a", "chosen": "b", "rejected": "c"}])
    T = prompt_len + answer_len
    ids = torch.randint(3, config.vocab_size, (2 * pairs, T))
    ids[pairs:, :prompt_len] = ids[:pairs, :prompt_len]
    completion = torch.zeros_like(ids)
    completion[:, prompt_len:] = 1
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "completion_mask": completion}
    with tempfile.TemporaryDirectory() as tmp:
        args = DPOConfig(output_dir=tmp, beta=0.1, loss_type=["sigmoid"], report_to=[], use_cpu=True)
        trainer = DPOTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
        trainer.model.train()
        params = [p for p in trainer.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-4)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            trainer._compute_loss(trainer.model, inputs, False).backward()
            optimizer.step()

        step()  # warm-up
        start = time.perf_counter()
        for _ in range(steps):
            step()
        elapsed = time.perf_counter() - start
    print(json.dumps({"tokens_per_s": 2 * pairs * T * steps / elapsed,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
