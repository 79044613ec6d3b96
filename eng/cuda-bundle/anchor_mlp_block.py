"""PyTorch anchor for a PrecisionDsl C# benchmark: an MLP and a transformer block at the sizes below, timed the
way the C# benchmark times them (warm-up, then the median of N iterations, variants interleaved,
torch.cuda.synchronize() before reading the clock), AdamW (PyTorch defaults, lr 1e-4).  fp32 vs autocast fp16 +
GradScaler vs autocast bf16 (fp16 on CUDA only).  TF32 is off, as in libtorch's default that TorchSharp runs with.

    large (default on CUDA): MLP 4096 -> 8192 -> 8192 -> 4096 (ReLU), batch 8192: inference and a training step
                             (cross-entropy); pre-LN transformer block width 1024, 16 heads, seq 512, batch 16,
                             MLP 4x GELU: a training step (MSE to a random target)
    small (default on CPU):  MLP 256 -> 512 -> 512 -> 256, batch 256; block width 128, 4 heads, seq 64, batch 4

Prints one JSON line per result ({"anchor": ...}) and a small table.

    python3 anchor_mlp_block.py --device cuda [--size large|small] [--iters 20] [--warmup 5]

--memory fp32|fp16|bf16 measures the MLP training step's peak memory for that variant instead (model id mlp, as
PrecisionDsl's device-memory mode names it; anchor_common.py); one variant per process.
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from anchor_common import emit
import anchor_common

p = argparse.ArgumentParser()
p.add_argument("--device", default="cuda")
p.add_argument("--size", default=None)
p.add_argument("--iters", type=int, default=20)
p.add_argument("--warmup", type=int, default=5)
p.add_argument("--memory", choices=["fp32", "fp16", "bf16"], help="measure this variant's peak memory instead of timing")
args = p.parse_args()

dev = torch.device(args.device)
on_cuda = dev.type == "cuda"
large = (args.size or ("large" if on_cuda else "small")) == "large"
# libtorch's default, which TorchSharp also runs with: true fp32 matmuls (no TF32).
torch.backends.cuda.matmul.allow_tf32 = False
torch.manual_seed(0)

if large:
    MLP = dict(inp=4096, inner=8192, out=4096, batch=8192)
    BLOCK = dict(width=1024, heads=16, seq=512, batch=16)
else:
    MLP = dict(inp=256, inner=512, out=256, batch=256)
    BLOCK = dict(width=128, heads=4, seq=64, batch=4)

rows = []



def sync():
    if on_cuda:
        torch.cuda.synchronize()


def timed(fn):
    sync()
    t = time.perf_counter()
    fn()
    sync()
    return (time.perf_counter() - t) * 1000.0


def interleaved(fns):
    """fns: dict name -> callable; all variants alternate every iteration; returns name -> (median, min)."""
    times = {k: [] for k in fns}
    for i in range(args.warmup + args.iters):
        for name, fn in fns.items():
            t = timed(fn)
            if i >= args.warmup:
                times[name].append(t)
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}


class Mlp(nn.Module):
    def __init__(self, inp, inner, out):
        super().__init__()
        self.l1 = nn.Linear(inp, inner)
        self.l2 = nn.Linear(inner, inner)
        self.l3 = nn.Linear(inner, out)

    def forward(self, x):
        return self.l3(F.relu(self.l2(F.relu(self.l1(x)))))


class Block(nn.Module):
    """Pre-LN block, attention written with matmul / masked_fill / softmax like the C# benchmark."""

    def __init__(self, width, heads, seq):
        super().__init__()
        self.width, self.heads, self.head_width = width, heads, width // heads
        self.scale = 1.0 / math.sqrt(self.head_width)
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)
        self.register_buffer("future_mask", torch.ones(seq, seq, dtype=torch.bool).triu(1))

    def forward(self, x):
        b, t, _ = x.shape
        mask = self.future_mask[:t, :t]
        q = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, self.head_width).permute(2, 0, 3, 1, 4)
        scores = q[0].matmul(q[1].transpose(-2, -1)) * self.scale
        weights = F.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
        attended = weights.matmul(q[2]).transpose(1, 2).reshape(b, t, self.width)
        h = x + self.proj(attended)
        return h + self.fc2(F.gelu(self.fc1(self.ln2(h))))


def make(cls, seed, **kw):
    torch.manual_seed(seed)
    return cls(**kw).to(dev)


def variants():
    v = ["fp32", "bf16"]
    if on_cuda:
        v.insert(1, "fp16")  # fp16 autocast + GradScaler only where it is real (CUDA)
    return v


def amp(kind):
    if kind == "fp32":
        return torch.autocast(dev.type, enabled=False)
    return torch.autocast(dev.type, dtype=torch.float16 if kind == "fp16" else torch.bfloat16)


def train_steps(cls, seed, model_kw, x, y, loss_fn):
    steps, states = {}, {}
    for kind in variants():
        m = make(cls, seed, **model_kw)
        m.train()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
        scaler = torch.amp.GradScaler(dev.type, enabled=(kind == "fp16"))
        st = dict(model=m, opt=opt, scaler=scaler, loss=float("nan"))
        states[kind] = st

        def step(kind=kind, st=st):
            st["opt"].zero_grad(set_to_none=True)
            with amp(kind):
                out = st["model"](x)
            loss = loss_fn(out.float(), y)
            st["scaler"].scale(loss).backward()
            st["scaler"].step(st["opt"])
            st["scaler"].update()
            st["last"] = loss

        steps[kind] = step
    res = interleaved(steps)
    for kind, st in states.items():
        st["loss"] = float(st["last"].item())
    # Peak extra memory of one step of each variant (allocated, beyond the persistent state), on CUDA.
    mem = {}
    if on_cuda:
        for kind, step in steps.items():
            torch.cuda.empty_cache()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            step()
            sync()
            mem[kind] = (torch.cuda.max_memory_allocated() - base) / 2**20
    return res, states, mem


def report_train(name, res, states, mem, extra=None):
    fields = dict(anchor=name)
    for kind, (med, mn) in res.items():
        fields[f"{kind}_ms"] = med
        fields[f"{kind}_min_ms"] = mn
        fields[f"{kind}_last_loss"] = states[kind]["loss"]
        if kind in mem:
            fields[f"{kind}_step_peak_extra_mb"] = mem[kind]
    for kind in res:
        if kind != "fp32":
            fields[f"speedup_{kind}"] = res["fp32"][0] / res[kind][0]
    if "fp16" in states:
        sc = states["fp16"]["scaler"]
        fields["fp16_final_scale"] = float(sc.get_scale())
    fields.update(extra or {})
    emit(**fields)
    for kind in res:
        if kind != "fp32":
            rows.append((f"{name} {kind}", res["fp32"][0], res[kind][0], res["fp32"][0] / res[kind][0]))


def memory(variant):
    """Peak memory of the MLP training step (cross-entropy, AdamW lr 1e-4), as train_steps runs it."""
    x = torch.randn(MLP["batch"], MLP["inp"], device=dev)
    y = torch.randint(0, MLP["out"], (MLP["batch"],), device=dev)

    def build():
        m = make(Mlp, 21, inp=MLP["inp"], inner=MLP["inner"], out=MLP["out"]).train()
        return m, torch.optim.AdamW(m.parameters(), lr=1e-4)

    def step(m, opt, scaler):
        opt.zero_grad(set_to_none=True)
        with amp(variant):
            out = m(x)
        loss = F.cross_entropy(out.float(), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss.item()

    emit(**anchor_common.measure(dev, "mlp", variant, build, step, growth_interval=2000, fp16=variant == "fp16"))


def main():
    if args.memory:
        memory(args.memory)
        return
    emit(anchor="env", torch=torch.__version__, cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
         device=torch.cuda.get_device_name(0) if on_cuda else "cpu", python=sys.version.split()[0],
         iters=args.iters, warmup=args.warmup, mlp=str(MLP), block=str(BLOCK), allow_tf32=torch.backends.cuda.matmul.allow_tf32)

    # MLP inference: fp32 vs autocast.
    m = make(Mlp, 11, inp=MLP["inp"], inner=MLP["inner"], out=MLP["out"]).eval()
    x = torch.randn(MLP["batch"], MLP["inp"], device=dev)
    with torch.no_grad():
        fns = {}
        for kind in variants():
            def fwd(kind=kind):
                with amp(kind):
                    m(x)
            fns[kind] = fwd
        res = interleaved(fns)
        ref = m(x)
        fields = dict(anchor="mlp_infer")
        for kind, (med, mn) in res.items():
            fields[f"{kind}_ms"] = med
            if kind != "fp32":
                with amp(kind):
                    out = m(x).float()
                err = (out - ref).abs()
                fields[f"{kind}_max_rel_err"] = float(err.max() / ref.abs().max())
                fields[f"speedup_{kind}"] = res["fp32"][0] / med
                rows.append((f"mlp_infer {kind}", res["fp32"][0], med, res["fp32"][0] / med))
        emit(**fields)
    del m, x, ref

    # MLP training step.
    x = torch.randn(MLP["batch"], MLP["inp"], device=dev)
    y = torch.randint(0, MLP["out"], (MLP["batch"],), device=dev)
    res, states, mem = train_steps(Mlp, 21, dict(inp=MLP["inp"], inner=MLP["inner"], out=MLP["out"]), x, y, F.cross_entropy)
    report_train("mlp_train", res, states, mem)
    del states, x, y
    if on_cuda:
        torch.cuda.empty_cache()

    # Transformer block training step (MSE to a random target, like the C# benchmark).
    x = torch.randn(BLOCK["batch"], BLOCK["seq"], BLOCK["width"], device=dev)
    t = torch.randn(BLOCK["batch"], BLOCK["seq"], BLOCK["width"], device=dev)
    res, states, mem = train_steps(Block, 31, dict(width=BLOCK["width"], heads=BLOCK["heads"], seq=BLOCK["seq"]), x, t, F.mse_loss)
    tokens = BLOCK["batch"] * BLOCK["seq"]
    report_train("block_train", res, states, mem,
                 {f"tokens_per_s_{k}": tokens / (v[0] / 1000.0) for k, v in res.items()})

    print(f"=== anchor summary (PyTorch {torch.__version__}, {dev.type}, median of {args.iters}) ===")
    print(f"{'measurement':<22} {'fp32 ms':>10} {'amp ms':>10} {'ratio':>8}")
    for name, a, b, r in rows:
        print(f"{name:<22} {a:>10.3f} {b:>10.3f} {r:>7.2f}x")
    print("ANCHOR DONE")


if __name__ == "__main__":
    main()
