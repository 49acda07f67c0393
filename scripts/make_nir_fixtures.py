"""Write the NIR round-trip fixtures: a small snnTorch, Norse and Sinabs network, each
exported with that library's own NIR export, beside its weights and an input.

    python scripts/make_nir_fixtures.py            # writes tests/fixtures/nir/

The exporters need different NIR versions: Sinabs 3.1.3 pins nir<=1.0.4 and Norse 1.1's
export fails on 1.0.6-1.0.8, so those two run with the installed nir (1.0.4); snnTorch 1.0's
export writes ``v_reset`` and needs nir>=1.0.6, so it runs in a child process with
nir 1.0.8 put first on its path (installed under /tmp with pip, once). Each child records
the versions it used in ``versions.json``. tests/test_nir_roundtrip.py imports the network
definitions below, loads the weights and input, and compares syops's figures on the
original model with those on the NIR file.

Choices that make the original and the NIR reading the same dynamics: snnTorch and Sinabs
neurons reset to zero (NIR's v_reset; snnTorch's default subtracts after the decay, Sinabs's
subtracts, which NIR cannot express); Sinabs emits single spikes (NIR neurons do).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "nir"
OVERLAY = Path("/tmp/syops-nir-1.0.8")
NEEDS = {"snntorch": "1.0.8", "norse": None, "sinabs": None}   # None: the installed nir
DT = {"snntorch": 1e-4, "norse": 1e-6, "sinabs": 1.0}
"""The --dt that reads each export as its library ran: snnTorch exports tau = 1e-4 / (1 -
beta); Norse 1.1 exports tau = dt / tau_mem_inv (dt times its time constant: read it with
dt squared, 1e-6 for its default 1e-3); Sinabs counts time in steps (1)."""
SEED, SAMPLES, STEPS = 0, 3, 16
FEATURES, HIDDEN, CLASSES = 12, 10, 4


def snntorch_net() -> nn.Module:
    import snntorch as snn
    torch.manual_seed(SEED)
    beta = torch.linspace(0.8, 0.95, HIDDEN)
    return nn.Sequential(
        nn.Linear(FEATURES, HIDDEN),
        snn.Leaky(beta=beta, threshold=torch.ones(HIDDEN), init_hidden=True,
                  reset_mechanism="zero"),
        nn.Linear(HIDDEN, CLASSES),
        snn.Leaky(beta=torch.full((CLASSES,), 0.9), threshold=torch.full((CLASSES,), 0.5),
                  init_hidden=True, reset_mechanism="zero"))


def norse_net() -> nn.Module:
    import norse.torch as norse
    torch.manual_seed(SEED)
    return norse.SequentialState(
        nn.Linear(FEATURES, HIDDEN), norse.LIFBoxCell(),
        nn.Linear(HIDDEN, CLASSES), norse.LIFBoxCell())


def sinabs_net() -> nn.Module:
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike
    torch.manual_seed(SEED)

    def iaf() -> nn.Module:
        return sl.IAFSqueeze(num_timesteps=STEPS, spike_fn=SingleSpike,
                             reset_fn=MembraneReset(), spike_threshold=torch.tensor(0.5))
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False), iaf(), sl.SumPool2d(2),
        nn.Conv2d(4, 4, 3, stride=2, padding=1, bias=False), iaf(),
        nn.Flatten(), nn.Linear(4 * 2 * 2, CLASSES, bias=False), iaf())


def louder(net: nn.Module, gain: float) -> nn.Module:
    """Scaled synapses, so that every layer spikes (default inits leave them near silent)."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                module.weight.mul_(gain)
    return net


NETS = {"snntorch": snntorch_net, "norse": norse_net, "sinabs": sinabs_net}
GAINS = {"snntorch": 3.0, "norse": 25.0, "sinabs": 2.0}
INPUTS = {"snntorch": (FEATURES,), "norse": (FEATURES,), "sinabs": (2, 8, 8)}


def spikes(library: str) -> torch.Tensor:
    """The input: ``[N, T, ...]`` spikes at rate 0.3 (seeded)."""
    generator = torch.Generator().manual_seed(SEED + 1)
    shape = (SAMPLES, STEPS, *INPUTS[library])
    return (torch.rand(shape, generator=generator) < 0.3).float()


class OverTime(nn.Module):
    """The original network run over ``[T, B, ...]`` as each library runs it."""

    def __init__(self, library: str, net: nn.Module):
        super().__init__()
        self.library, self.net = library, net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.library == "sinabs":   # Squeeze layers: [B*T, ...], batch-major
            steps, batch = x.shape[:2]
            flat = x.transpose(0, 1).reshape(batch * steps, *x.shape[2:])
            out = self.net(flat)
            return out.reshape(batch, steps, *out.shape[1:]).transpose(0, 1)
        state, outputs = None, []
        for step in x:
            if self.library == "norse":
                out, state = self.net(step, state)
            else:
                out = self.net(step)
            outputs.append(out)
        return torch.stack(outputs)


def export(library: str, out: Path) -> None:
    """In this process: build, export and save one library's network."""
    import nir
    net = louder(NETS[library](), GAINS[library]).eval()
    # snnTorch drops the batch dim (ignore_dims), Norse keeps it: give it one sample
    sample = {"snntorch": spikes(library)[:, 0], "norse": spikes(library)[0, 0],
              "sinabs": spikes(library).reshape(-1, *INPUTS[library])}[library]
    if library == "snntorch":
        from snntorch.export_nir import export_to_nir
        graph = export_to_nir(net, sample, ignore_dims=[0])
    elif library == "norse":
        import norse.torch as norse
        graph = norse.to_nir(net, sample)
    else:
        from sinabs.nir import to_nir
        graph = to_nir(net, sample)
        fill_shapes(graph, net, sample)
    nir.write(out / f"{library}.nir", graph)
    torch.save({k: v.detach() for k, v in net.named_parameters()}, out / f"{library}_state.pt")
    torch.save(spikes(library), out / f"{library}_input.pt")
    versions = json.loads((out / "versions.json").read_text()) if \
        (out / "versions.json").exists() else {}
    versions[library] = {p: importlib.metadata.version(p)
                         for p in ("nir", "nirtorch", "torch", library)}
    versions[library]["dt"] = DT[library]
    (out / "versions.json").write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n")
    print(f"{library}: {out / f'{library}.nir'} with nir {nir.version}")


def fill_shapes(graph, net: nn.Module, sample: torch.Tensor) -> None:
    """Sinabs's export leaves a conv's ``input_shape`` and a flatten's ``input_type`` unset,
    which nir 1.0.4 cannot write: set them to what each module sees (nodes are named after
    the modules)."""
    import numpy as np
    shapes, hooks = {}, []
    for name, module in net.named_modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Flatten)):
            hooks.append(module.register_forward_hook(
                lambda m, args, out, name=name: shapes.update({name: args[0].shape[1:]})))
    with torch.no_grad():
        net(sample)
    for hook in hooks:
        hook.remove()
    for name, node in graph.nodes.items():
        if getattr(node, "input_shape", 0) is None:
            node.input_shape = tuple(shapes[name][1:])
        if name in shapes and node.input_type == {"input": None}:
            node.input_type = {"input": np.array(shapes[name])}


def overlay(version: str) -> Path:
    """A folder holding nir ``version`` alone (pip, no dependencies), put first on the
    child's path."""
    folder = OVERLAY.with_name(f"syops-nir-{version}")
    if not (folder / "nir").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--target", str(folder), f"nir=={version}"], check=True)
    return folder


def check(out: Path) -> None:
    """Print syops's figures (totals over the samples) of each original and of its NIR file,
    as markdown rows (docs/libraries.md shows them)."""
    import syops.nir
    from syops import count_syops
    print("| library | model | ACs per layer | MACs per layer | neuron updates | "
          "neuron firing rates |\n| --- | --- | --- | --- | --- | --- |")
    for library in NETS:
        x = torch.load(out / f"{library}_input.pt")
        net = NETS[library]()
        net.load_state_dict(torch.load(out / f"{library}_state.pt"), strict=False)
        reports = {"original": count_syops(OverTime(library, net), x, time_first=True),
                   f"NIR, dt {DT[library]:g}": count_syops(
                       syops.nir.load(out / f"{library}.nir", dt=DT[library]), x,
                       time_first=True)}
        for name, r in reports.items():
            cells = [", ".join(f"{v * r.samples:.0f}" for v in r.layers.acs),
                     ", ".join(f"{v * r.samples:.0f}" for v in r.layers.macs),
                     ", ".join(f"{v * r.samples:.0f}" for v in r.neurons.updates),
                     ", ".join(f"{v:.4f}" for v in r.neurons.output_firing_rate)]
            print(f"| {library} | {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--export", choices=sorted(NETS), help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true",
                        help="Print the round-trip figures of the fixtures in --out.")
    args = parser.parse_args()
    if args.check:
        return check(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.export:
        return export(args.export, args.out)
    for library, version in NEEDS.items():
        env = dict(os.environ)
        if version:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(overlay(version)),
                                                              env.get("PYTHONPATH")]))
        subprocess.run([sys.executable, __file__, "--export", library, "--out",
                        str(args.out)], check=True, env=env)


if __name__ == "__main__":
    main()
