"""What the PyTorch anchors (anchor_mlp_block.py, anchor_tinygpt.py) share: the JSON-line output and the memory
measurement of their --memory mode, which reads a training step's peak the way PrecisionDsl's device-memory mode
does (tests/Benchmarks/Anchors/DeviceMemory.cs): on CUDA the device memory in use (cudaMemGetInfo, total - free:
the CUDA context, the caching allocator's reserved blocks, other processes) after setup and after each of 3
warm-up + 10 steps; on CPU the resident high-water mark.
"""
import json
import math

import torch

STEPS = 13


def emit(**kw):
    """One JSON line; finite floats rounded to 6 decimals, inf/nan as strings."""
    clean = {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else (str(v) if isinstance(v, float) else v))
             for k, v in kw.items()}
    print(json.dumps(clean), flush=True)


def _used(dev):
    if dev.type == "cuda":
        free, total = torch.cuda.mem_get_info()
        return total - free
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def measure(dev, model_id, variant, build, step, growth_interval, fp16):
    """The fields of one {"anchor": "device_memory"} line. build() -> (model, optimizer); step(model, optimizer,
    scaler) -> loss. One variant per process, so none inherits another's cached blocks."""
    torch.zeros(1, device=dev)  # the context, before any model: what every variant pays
    context = _used(dev)
    model, optimizer = build()
    scaler = torch.amp.GradScaler(dev.type, growth_interval=growth_interval, enabled=fp16)
    setup = peak = _used(dev)
    loss = float("nan")
    for _ in range(STEPS):
        loss = step(model, optimizer, scaler)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        peak = max(peak, _used(dev))
    fields = dict(anchor="device_memory", model=model_id, variant=variant,
                  measure="cudaMemGetInfo" if dev.type == "cuda" else "VmHWM",
                  context_mib=context / 2**20, setup_mib=setup / 2**20, steps=STEPS, last_loss=loss,
                  params=sum(p.numel() for p in model.parameters()))
    if dev.type == "cuda":
        fields["peak_mib"] = peak / 2**20
        fields["allocated_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        with open("/proc/self/status") as status:  # VmHWM, as PrecisionDsl reads it (setup is VmRSS there too)
            fields["peak_mib"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    return fields
