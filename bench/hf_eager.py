"""HF transformers eager bf16 on the same GPU, the peer of bench/gpu.ts: Fugaku-LLM-13B's shape from
config alone (random weights, no download), decode tok/s at batch 1 and aggregate at --streams, prefill
tok/s of a --prompt-tokens prompt. Prints one JSON line prefixed with "JSON ".

    python3 bench/hf_eager.py --preset 13b --streams 8 --prompt-tokens 512 --new-tokens 32
"""
import argparse
import json
import time

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

# The shapes of bench/presets.ts (keep them the same).
PRESETS = {
    "13b": dict(n_embd=5184, n_head=36, n_layer=40, n_inner=20736, vocab_size=49152, n_positions=2048),
    "1b": dict(n_embd=2048, n_head=16, n_layer=20, n_inner=8192, vocab_size=49152, n_positions=2048),
    "gpt2-small": dict(n_embd=768, n_head=12, n_layer=12, n_inner=3072, vocab_size=49152, n_positions=1024),
    "tiny": dict(n_embd=288, n_head=2, n_layer=3, n_inner=1152, vocab_size=49152, n_positions=512),
}

ap = argparse.ArgumentParser()
ap.add_argument("--preset", default="13b")
ap.add_argument("--streams", type=int, default=8)
ap.add_argument("--prompt-tokens", type=int, default=512)
ap.add_argument("--new-tokens", type=int, default=32)
args = ap.parse_args()

cfg = GPT2Config(activation_function="gelu_fast", **PRESETS[args.preset])
cfg._attn_implementation = "eager"
torch.manual_seed(0)
t0 = time.time()
with torch.device("cuda"):
    torch.set_default_dtype(torch.bfloat16)
    model = GPT2LMHeadModel(cfg)
model.eval()
setup_s = time.time() - t0


def sync():
    torch.cuda.synchronize()


@torch.inference_mode()
def decode(batch, steps, prompt=8):
    ids = torch.randint(0, cfg.vocab_size, (batch, prompt), device="cuda")
    out = model(input_ids=ids, use_cache=True)
    past = out.past_key_values
    nxt = out.logits[:, -1:].argmax(-1)
    sync()
    t = time.time()
    for _ in range(steps):
        out = model(input_ids=nxt, past_key_values=past, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[:, -1:].argmax(-1)
    sync()
    return time.time() - t


@torch.inference_mode()
def prefill(n):
    ids = torch.randint(0, cfg.vocab_size, (1, n), device="cuda")
    model(input_ids=ids, use_cache=True)
    sync()
    t = time.time()
    model(input_ids=ids, use_cache=True)
    sync()
    return time.time() - t


decode(1, 2)
decode(args.streams, 2)
G = args.new_tokens
bs1 = decode(1, G)
bsN = decode(args.streams, G)
P = args.prompt_tokens
pf = prefill(P)
result = {
    "peer": "transformers eager bf16",
    "transformers": transformers.__version__,
    "torch": torch.__version__,
    "gpu": torch.cuda.get_device_name(0),
    "preset": args.preset,
    "setupS": setup_s,
    "decodeTokS": G / bs1,
    "batchStreams": args.streams,
    "batchTokS": G * args.streams / bsN,
    "prefillTokS": P / pf,
}
print(f"{result['gpu']}: HF eager bf16 {args.preset}: decode bs1 {result['decodeTokS']:.2f} tok/s, "
      f"{args.streams} streams {result['batchTokS']:.1f} tok/s, prefill {P} {result['prefillTokS']:.1f} tok/s")
print("JSON " + json.dumps(result))
