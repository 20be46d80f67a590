#!/usr/bin/env python3
"""Compares a `gradcheck --cell FILE --dump OUT` file with PyTorch, in float64.

    compare.py lstm OUT                  torch.nn.LSTM, one step from the dumped (h, c)
    compare.py gru OUT                   torch.nn.GRU, one step from the dumped h
    compare.py transformer OUT --heads N [--eps E] [--causal 0|1]
                                         configs/blocks/transformer.yaml's pre-LN block from
                                         nn.LayerNorm, nn.MultiheadAttention, nn.Linear and
                                         F.gelu (exact erf)

The torch module gets the dumped parameters, input and state, and computes gradcheck's
cell-mode loss, loss = sum(w_out * y) + sum_s sum(w_s * next_s), with the dumped weights
("weights.out", "weights.<state>"); then backward. The loss, the output, the next state,
and the gradients of the input, the state and every parameter are compared with the
dump, one row each: pass when every max |tapegrad - torch| <= --tol (default 1e-5).
Exit status: 0 pass, 1 a tensor differs, 2 a bad or incomplete dump.
"""
import argparse
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F64": "<f8", "F32": "<f4", "I32": "<i4"}


def read_safetensors(path):
    """{name: float64 tensor} from a safetensors file: an 8-byte little-endian header
    length N, N bytes of JSON {name: {dtype, shape, data_offsets}}, then the raw
    little-endian data (offsets relative to its start)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        shape = info["shape"]
        dt = np.dtype(DTYPES[info["dtype"]])
        count = int(np.prod(shape, dtype=np.int64))  # 1 for a scalar (shape [])
        if end - begin != count * dt.itemsize or end > len(data):
            raise ValueError(f"{name}: data_offsets [{begin}, {end}] do not fit shape {shape}")
        a = np.frombuffer(data, dtype=dt, count=count, offset=begin).reshape(shape)
        out[name] = torch.from_numpy(a.astype(np.float64))
    return out


class PreLNBlock(torch.nn.Module):
    """configs/blocks/transformer.yaml: x1 = x + attention(ln1(x)),
    y = x1 + linear2(gelu(linear1(ln2(x1))))."""

    def __init__(self, C, heads, mlp_width, eps):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(C, eps=eps)
        self.attn = torch.nn.MultiheadAttention(C, heads, batch_first=True)
        self.ln2 = torch.nn.LayerNorm(C, eps=eps)
        self.linear1 = torch.nn.Linear(C, mlp_width)
        self.linear2 = torch.nn.Linear(mlp_width, C)

    def forward(self, x, causal):
        T = x.shape[1]
        # bool attn_mask: True = may not attend (key after query)
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1) if causal else None
        a = self.ln1(x)
        o, _ = self.attn(a, a, a, attn_mask=mask, need_weights=False)
        x1 = x + o
        return x1 + self.linear2(F.gelu(self.linear1(self.ln2(x1)), approximate="none"))


BLOCK_NAMES = {  # tapegrad parameter -> PreLNBlock parameter
    "ln1_weight": "ln1.weight", "ln1_bias": "ln1.bias",
    "in_proj_weight": "attn.in_proj_weight", "in_proj_bias": "attn.in_proj_bias",
    "out_proj_weight": "attn.out_proj.weight", "out_proj_bias": "attn.out_proj.bias",
    "ln2_weight": "ln2.weight", "ln2_bias": "ln2.bias",
    "linear1_weight": "linear1.weight", "linear1_bias": "linear1.bias",
    "linear2_weight": "linear2.weight", "linear2_bias": "linear2.bias",
}


def build(kind, d, args):
    """The torch module, {tapegrad name: its parameter}, and the state names."""
    if kind == "transformer":
        C = d["x"].shape[2]
        mod = PreLNBlock(C, args.heads, d["linear1_weight"].shape[0], args.eps)
        tp = dict(mod.named_parameters())
        assert set(tp) == set(BLOCK_NAMES.values()), sorted(tp)
        return mod, {ours: tp[theirs] for ours, theirs in BLOCK_NAMES.items()}, []
    I, H = d["x"].shape[1], d["h"].shape[1]
    mod = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(I, H, num_layers=1)
    params = {n[:-len("_l0")]: p for n, p in mod.named_parameters()}  # weight_ih_l0 -> weight_ih
    return mod, params, ["h", "c"] if kind == "lstm" else ["h"]


def forward(kind, mod, inputs, states, args):
    """{dump name: torch value} for the output and the next state."""
    if kind == "transformer":
        return {"output": mod(inputs["x"], args.causal)}
    x = inputs["x"].unsqueeze(0)  # [1, B, input]: one time step
    s = tuple(inputs[n].unsqueeze(0) for n in states)  # [1, B, hidden]: one layer
    y, nxt = mod(x, s if kind == "lstm" else s[0])
    nxt = nxt if kind == "lstm" else (nxt,)
    res = {"output": y[0]}
    res.update({f"next.{n}": t[0] for n, t in zip(states, nxt)})
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["lstm", "gru", "transformer"])
    ap.add_argument("dump")
    ap.add_argument("--heads", type=int, default=0, help="attention heads (transformer)")
    ap.add_argument("--eps", type=float, default=1e-5, help="layer-norm eps (transformer)")
    ap.add_argument("--causal", type=int, default=1, choices=[0, 1], help="causal mask (transformer)")
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    if args.kind == "transformer" and args.heads < 1:
        ap.error("transformer needs --heads")
    torch.set_default_dtype(torch.float64)
    try:
        d = read_safetensors(args.dump)
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as e:
        print(f"compare.py: {args.dump}: {e}", file=sys.stderr)
        return 2

    mod, params, states = build(args.kind, d, args)
    mod = mod.double()
    inputs = ["x"] + states
    want = [*params, *inputs, *(f"grad.{n}" for n in [*params, *inputs]), "loss", "output", "weights.out",
            *(f"{p}.{s}" for s in states for p in ("next", "weights"))]
    missing = [n for n in want if n not in d]
    unknown = [n for n in d if n not in want]
    if missing or unknown:
        print(f"compare.py: {args.dump}: missing {missing}, not compared {unknown}", file=sys.stderr)
        return 2
    with torch.no_grad():
        for n, p in params.items():
            if tuple(p.shape) != tuple(d[n].shape):
                print(f"compare.py: {n}: torch shape {list(p.shape)}, dump {list(d[n].shape)}", file=sys.stderr)
                return 2
            p.copy_(d[n])
    leaves = {n: d[n].clone().requires_grad_(True) for n in inputs}

    res = forward(args.kind, mod, leaves, states, args)
    loss = (d["weights.out"] * res["output"]).sum()
    for s in states:
        loss = loss + (d[f"weights.{s}"] * res[f"next.{s}"]).sum()
    loss.backward()

    rows = [("loss", loss.detach())]
    rows += [(n, t.detach()) for n, t in res.items()]
    rows += [(f"grad.{n}", t.grad) for n, t in leaves.items()]
    rows += [(f"grad.{n}", p.grad) for n, p in params.items()]
    print(f"{args.kind}: tapegrad ({args.dump}) vs torch {torch.__version__}, float64, "
          f"pass if max |diff| <= {args.tol:g}")
    print(f"{'tensor':<22} {'shape':<10} {'max |diff|':>11} {'max |torch|':>11}  result")
    failed = 0
    for name, t in rows:
        ref = d[name]
        shape = str(list(ref.shape)).replace(" ", "")
        if t is None or t.shape != ref.shape:
            got = "no gradient" if t is None else f"torch shape {list(t.shape)}"
            print(f"{name:<22} {shape:<10} {got}  FAIL")
            failed += 1
            continue
        diff = (t - ref).abs().max().item()
        ok = diff <= args.tol  # False for NaN
        failed += not ok
        print(f"{name:<22} {shape:<10} {diff:11.3e} {t.abs().max().item():11.3e}  {'pass' if ok else 'FAIL'}")
    print(f"{len(rows) - failed} of {len(rows)} tensors match")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
