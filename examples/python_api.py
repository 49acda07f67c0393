"""The README's Python example: a reference model, then your own SpikingJelly net."""

import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

from syops import SyopsCounter, count_syops
from syops.models import create_model, model_info

# 1. A reference model on its default input (random init, synthetic image).
torch.manual_seed(0)
info = model_info("sew18")
report = count_syops(create_model("sew18"), info.example_input(batch_size=2))
print(f"sew18: {report.macs / 1e9:.2f} G MACs, {report.acs / 1e9:.2f} G ACs, "
      f"DC {report.energy():.2f} mJ, EC {report.ec()[0]:.2f}-{report.ec()[1]:.2f} mJ per image")

# 2. Your own multi-step SNN inside your own evaluation loop.
torch.manual_seed(0)
net = nn.Sequential(                                   # takes [T, B, 2, 32, 32]
    layer.Conv2d(2, 16, 3, padding=1, bias=False, step_mode="m"),
    layer.BatchNorm2d(16, step_mode="m"),               # folded into the conv: free
    neuron.IFNode(v_threshold=0.5, step_mode="m"),
    layer.MaxPool2d(2, step_mode="m"),
    layer.Conv2d(16, 32, 3, padding=1, step_mode="m"),
    neuron.IFNode(v_threshold=0.5, step_mode="m"),
    layer.Flatten(step_mode="m"),
    layer.Linear(32 * 16 * 16, 10, step_mode="m"),
).eval()
frames = torch.poisson(torch.full((8, 4, 2, 32, 32), 0.3))   # 8 samples, T = 4, event counts
loader = torch.utils.data.DataLoader(frames, batch_size=2)

with torch.no_grad(), SyopsCounter(net, batch_dim=1) as counter:
    for x in loader:                                   # x: [B, T, ...]
        net(x.transpose(0, 1))
        functional.reset_net(net)
report = counter.report()

columns = ["name", "type", "signal", "syops", "acs", "macs", "firing_rate", "energy_pj"]
print(report.layers[columns].to_string(index=False))
print(f"{report.samples} samples: {report.macs:,.0f} MACs + {report.acs:,.0f} ACs per sample "
      f"= {report.energy() * 1e3:.2f} uJ (fp32); neuron firing rate {report.neuron_firing_rate:.3f}")
