"""Real PyTorch keeping device memory in the ways the holders walk must name (issue 21): the
workload of the `*-holders-*` cases of tests/torch/check.py.

A small model (`MODEL`, class `Net`: an encoder and a ModuleList of blocks) serves a few
requests; ``--mode`` chooses what keeps memory once they are done:

    gallery      each request's output in a module-level list (GALLERY[i])
    class-cache  the last output in a dict that is a class attribute (Cache.entries['latest'])
    instance     the last output in an attribute of an object a global keeps (SERVER.last)
    closure      outputs in a list a closure keeps (keep_latents.<closure>.latents[i])
    generator    a local of a suspended generator a global keeps (STREAM.<locals>.latent)
    thread       a local of a daemon thread's frame, waiting at exit
    custom-node  a module-level cache of custom_nodes/leaky/__init__.py (tests/programs)
    losses       `losses.append(loss)` with autograd on: each loss keeps its graph's tensors
    training     a training step with Adam: gradients and the optimizer's state
    clean        nothing but the model's parameters
    oom-weights  the weights fit, one request's activations do not (run with a small
                 FAKE_CUDA_CAPACITY): torch.cuda.OutOfMemoryError, exit 1

Prints one line ``GPULEAK_HOLDERS {json}``: the mode and the holders the walk must report,
each with its path, root, the end (or start) of its root_where, role, model and bytes.
"""

import argparse
import json
import os
import sys
import threading

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "programs"))

from custom_nodes import leaky  # noqa: E402

DEV = "cuda"
WIDTH = 256


class Net(nn.Module):
    def __init__(self, blocks=2, width=WIDTH):
        super().__init__()
        self.encoder = nn.Linear(width, width)
        self.blocks = nn.ModuleList([nn.Linear(width, width) for _ in range(blocks)])
        self.register_buffer("scale", torch.ones(width))

    def forward(self, x):
        hidden = self.encoder(x)
        for b in self.blocks:
            hidden = torch.relu(b(hidden)) * self.scale
        return hidden


GALLERY = []


class Cache:
    entries = {}


class Server:
    def __init__(self):
        self.last = None


SERVER = Server()


def make_keeper():
    latents = []

    def keep_latents(t):
        latents.append(t)

    return keep_latents


keep_latents = make_keeper()


def stream(model, x):
    latent = model(x)
    yield latent.shape[0]
    yield 0


def nbytes(t):
    return t.untyped_storage().nbytes()


def expect(path, root, where, role, t, model=""):
    return {"path": path, "root": root, "root_where_end": where, "role": role, "model": model,
            "bytes": nbytes(t)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True)
    ap.add_argument("--requests", type=int, default=3)
    ap.add_argument("--blocks", type=int, default=2,
                    help="blocks of the model (docs/performance.md times the walk on many)")
    args = ap.parse_args()
    torch.backends.cudnn.enabled = False
    me = "holders_app.py"
    grad = args.mode in ("losses", "training")
    global MODEL, OPT, STREAM, LOSSES
    MODEL = Net(args.blocks).to(DEV).requires_grad_(grad)
    batch = 65536 if args.mode == "oom-weights" else 8
    out = {"mode": args.mode, "expect": []}
    exp = out["expect"]
    losses = []
    for i in range(args.requests):
        x = torch.randn(batch, WIDTH, device=DEV)
        if args.mode == "oom-weights":
            try:
                MODEL(x)  # fails
            except torch.cuda.OutOfMemoryError:
                w = MODEL.encoder.weight
                exp.append(expect("MODEL.encoder.weight", "module_global", me, "parameter", w,
                                  "MODEL (Net)"))
                exp.append(expect("MODEL.scale", "module_global", me, "buffer", MODEL.scale,
                                  "MODEL (Net)"))
                # The outermost frame that holds it names it: the program's own.
                e = expect("x", "frame", f"{me}:{line_of('MODEL(x)  # fails')})", "user_held", x)
                e["root_where_start"] = "thread MainThread in main ("
                exp.append(e)
                print("GPULEAK_HOLDERS " + json.dumps(out), flush=True)
                raise
        with torch.set_grad_enabled(grad):
            y = MODEL(x)
        if args.mode == "gallery":
            GALLERY.append(y)
        elif args.mode == "class-cache":
            Cache.entries["latest"] = y
        elif args.mode == "instance":
            SERVER.last = y
        elif args.mode == "closure":
            keep_latents(y)
        elif args.mode == "custom-node":
            leaky.remember("img", y)
        elif args.mode == "losses":
            losses.append(y.sum())
        elif args.mode == "training":
            if i == 0:
                OPT = torch.optim.Adam(MODEL.parameters())
            y.sum().backward()
            OPT.step()
    del x, y
    if args.mode == "gallery":
        exp.append(expect("GALLERY[1]", "module_global", me, "user_held", GALLERY[1]))
    elif args.mode == "class-cache":
        exp.append(expect("Cache.entries['latest']", "module_global", me, "user_held",
                          Cache.entries["latest"]))
    elif args.mode == "instance":
        exp.append(expect("SERVER.last", "module_global", me, "user_held", SERVER.last))
    elif args.mode == "closure":
        latents = keep_latents.__closure__[0].cell_contents
        exp.append(expect("keep_latents.<closure>.latents[2]", "module_global", me, "user_held",
                          latents[2]))
    elif args.mode == "custom-node":
        exp.append(expect("CACHE['img']", "module_global", "custom_nodes/leaky/__init__.py",
                          "user_held", leaky.CACHE["img"]))
    elif args.mode == "generator":
        STREAM = stream(MODEL, torch.randn(8, WIDTH, device=DEV))
        next(STREAM)
        exp.append({"path": "STREAM.<locals>.latent", "root": "module_global",
                    "root_where_end": me, "role": "user_held", "model": "", "bytes": 8 * WIDTH * 4})
    elif args.mode == "thread":
        started = threading.Event()

        def worker():
            pending = torch.randn(16, WIDTH, device=DEV)
            started.set()
            threading.Event().wait()
            return pending

        threading.Thread(target=worker, name="loader", daemon=True).start()
        started.wait()
        exp.append({"path": "pending", "root": "frame",
                    "root_where_start": "thread loader in worker (",
                    "root_where_end": f"{me}:{line_of('threading.Event().wait()')})",
                    "role": "user_held", "model": "", "bytes": 16 * WIDTH * 4})
    elif args.mode == "losses":
        LOSSES = losses
        # The last block's ReLU keeps its result for the backward pass.
        relu = losses[1].grad_fn.next_functions[0][0].next_functions[0][0]
        exp.append(expect("LOSSES[1]", "module_global", me, "user_held", losses[1]))
        exp.append(expect("LOSSES[1].grad_fn.next_functions[0][0].next_functions[0][0]._saved_result",
                          "module_global", me, "autograd", relu._saved_result))
    elif args.mode == "training":
        w = MODEL.blocks[1].weight
        exp.append(expect("MODEL.blocks[1].weight.grad", "module_global", me, "gradient", w.grad,
                          "MODEL (Net)"))
        exp.append(expect("OPT.state[MODEL.blocks[1].weight]['exp_avg']", "module_global", me,
                          "optimizer_state", OPT.state[w]["exp_avg"], "MODEL (Net)"))
    if args.mode != "losses":
        exp.append(expect("MODEL.blocks[1].weight", "module_global", me, "parameter",
                          MODEL.blocks[1].weight, "MODEL (Net)"))
    print("GPULEAK_HOLDERS " + json.dumps(out), flush=True)


def line_of(text):
    with open(os.path.abspath(__file__)) as f:
        lines = [i + 1 for i, l in enumerate(f) if text in l and "line_of" not in l]
    return lines[0]


if __name__ == "__main__":
    main()
