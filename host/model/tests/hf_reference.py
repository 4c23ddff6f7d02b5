#!/usr/bin/env python3
"""Reference numbers from HF transformers for eigenbox-model's parity tests.

  hf_reference.py logits GGUF IDS OUT   # IDS: comma-separated token ids; writes f32 LE logits
                                          # [T, V] to OUT and prints {"shape": [T, V]}
  hf_reference.py tokenize GGUF TEXT    # prints {"ids": [...]} (the GGUF tokenizer as HF converts it)
  hf_reference.py tokcheck GGUF IN OUT  # IN: JSON {"strings": [...], "dialogues": [[msg, ...], ...]};
                                        # writes {"ids": [[...]], "chat": [text, ...]} (generation
                                        # prompt added) and saves HF's tokenizer.json next to OUT

The GGUF is loaded the way transformers does it (gguf-py dequantisation, llama.cpp -> HF
name mapping and q/k un-permutation), in float32 on CPU.
"""
import json
import os
import sys


def load_model(gguf):
    import torch
    from transformers import AutoModelForCausalLM

    d, f = os.path.split(os.path.abspath(gguf))
    try:
        m = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    except TypeError:
        m = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32)
    return m.eval()


def main():
    cmd = sys.argv[1]
    if cmd == "logits":
        import torch

        gguf, ids, out = sys.argv[2], sys.argv[3], sys.argv[4]
        torch.manual_seed(0)
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
        ids = [int(x) for x in ids.split(",")]
        m = load_model(gguf)
        with torch.no_grad():
            logits = m(torch.tensor([ids])).logits[0].float().contiguous()
        with open(out, "wb") as fh:
            fh.write(logits.numpy().astype("<f4").tobytes())
        print(json.dumps({"shape": list(logits.shape)}))
    elif cmd == "tokenize":
        from transformers import AutoTokenizer

        gguf, text = sys.argv[2], sys.argv[3]
        d, f = os.path.split(os.path.abspath(gguf))
        tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
        print(json.dumps({"ids": tok.encode(text, add_special_tokens=False)}))
    elif cmd == "tokcheck":
        from transformers import AutoTokenizer

        gguf, inp, out = sys.argv[2], sys.argv[3], sys.argv[4]
        d, f = os.path.split(os.path.abspath(gguf))
        tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
        tok.save_pretrained(os.path.dirname(os.path.abspath(out)))
        spec = json.load(open(inp))
        res = {
            "ids": [tok.encode(s, add_special_tokens=False) for s in spec["strings"]],
            "chat": [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in spec["dialogues"]],
        }
        json.dump(res, open(out, "w"))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
