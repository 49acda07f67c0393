"""Weights saved by the official training code, loaded into the reference models.

A reference model names its weights ``stem.* / units.N.* / accumulation.N.* / classifier.*``.
Each :class:`Layout` below maps those names to the ones another code base gives the same
tensors; :func:`fit_state_dict` finds the layout whose names a state_dict uses and returns
it renamed to ours, strictly: every tensor of the model present with its shape, nothing
left over except what the layout declares unused. docs/models.md lists the layouts.

Names are mapped in two steps: a reference unit's prefix (``units.5.``) becomes the
official module path of that unit (``layer3.0.`` in a ResNet, ``conv.9.`` in a 7B net),
then the first matching rule of the unit's kind renames the rest (``body.2.1.`` ->
``bn2.``). Old SpikingJelly (2021, the version the SEW and AAP code was trained with) kept
a ``SeqToANNContainer``'s layers under ``.module``; those names are read too, as is the
one-element PLIF ``w`` of its C++ neurons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

from torch import Tensor, nn

from syops.models.backbone import AccumulationStep, ResidualBlock, SpikingConv

Rule = tuple[str, str]
"""(regex on a name, replacement): the first rule that matches renames it."""

OLD_CONTAINER = re.compile(r"\.module\.")
"""``SeqToANNContainer.module`` of SpikingJelly 2021 releases."""


@dataclass(frozen=True)
class Layout:
    """How one code base names the tensors of a reference model."""

    name: str
    source: str
    nets: str
    """"resnet" (ImageNet ResNets) or "seven_block" (event-camera 7B nets)."""
    fixed: tuple[Rule, ...]
    """Rules for the stem and classifier keys (the whole key)."""
    units: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
    """Rules per unit kind (block, transition, step, strided_step), on the unit-local name."""
    own_accumulation_names: bool = False
    """The accumulation pathway keeps our ``accumulation.N.`` names (no official code)."""
    unused: tuple[str, ...] = ()
    """Regexes of official keys with no counterpart that the official forward never uses."""
    pathway: tuple[str, ...] = ()
    """Regexes of official keys of the accumulation pathway (dropped for an FSNN)."""
    plain_shortcut: bool = False
    """Its Spiking ResNet shortcut is conv1x1-BN without a neuron (as in SpikingJelly)."""


OWN = Layout("syops", "syops reference models (create_model(...).state_dict())", "any",
             fixed=((r"^", ""),), pathway=(r"^accumulation\.",))

SEW_AUTHORS = Layout(
    "sew-authors",
    "SEW ResNet authors' imagenet/sew_resnet.py and spiking_resnet.py; AAP imagenet/dsnn.py",
    "resnet",
    fixed=((r"^stem\.conv\.0\.", "conv1."), (r"^stem\.conv\.1\.", "bn1."),
           (r"^classifier\.fc\.", "fc.")),
    units={
        "block": ((r"^body\.0\.", "conv1."), (r"^body\.2\.", "conv2."),
                  (r"^body\.4\.", "conv3."), (r"^shortcut\.", "downsample.")),
        "step": ((r"^projection\.0\.", "pool.0."), (r"^projection\.1\.", "pool.1.")),
        "strided_step": ((r"^projection\.0\.", "pool.0.0."), (r"^projection\.1\.", "pool.0.1."),
                         (r"^projection\.2\.", "pool.1.")),
    },
    unused=(r"^fc_acc\.",),
    pathway=(r"^layer\d\.\d+\.pool\.", r"^fc_acc\."),
    plain_shortcut=True,
)

SPIKINGJELLY_ZOO = Layout(
    "spikingjelly-zoo",
    "SpikingJelly activation_based/model/sew_resnet.py and spiking_resnet.py (torchvision "
    "names; also torchvision's resnet for the ANN)",
    "resnet",
    fixed=SEW_AUTHORS.fixed,
    units={"block": ((r"^body\.0\.0\.", "conv1."), (r"^body\.0\.1\.", "bn1."),
                     (r"^body\.2\.0\.", "conv2."), (r"^body\.2\.1\.", "bn2."),
                     (r"^body\.4\.0\.", "conv3."), (r"^body\.4\.1\.", "bn3."),
                     (r"^shortcut\.0\.0\.", "downsample.0."),
                     (r"^shortcut\.0\.1\.", "downsample.1."),
                     (r"^shortcut\.(\d)\.", r"downsample.\1."))},
    plain_shortcut=True,
)

SEW_DVS = Layout(
    "sew-dvs",
    "SEW ResNet authors' dvsgesture/smodels.py and cifar10dvs/smodels.py (ResNetN)",
    "seven_block",
    fixed=((r"^stem\.conv\.", "conv.0.0."), (r"^stem\.neuron\.", "conv.0.1."),
           (r"^classifier\.fc\.", "out.")),
    units={"block": ((r"^body\.0\.", "conv.0.0."), (r"^body\.1\.", "conv.0.1."),
                     (r"^body\.2\.", "conv.1.0."), (r"^neuron\.", "conv.1.1.")),
           "transition": ((r"^conv\.", "0."), (r"^neuron\.", "1."))},
    own_accumulation_names=True,
    pathway=(r"^accumulation\.",),
)

LAYOUTS: tuple[Layout, ...] = (OWN, SEW_AUTHORS, SPIKINGJELLY_ZOO, SEW_DVS)


# ------------------------------------------------------------------ naming
def unit_kind(module: nn.Module) -> str | None:
    """The rule set a unit or accumulation step uses; None when it holds no tensors."""
    if isinstance(module, ResidualBlock):
        return "block"
    if isinstance(module, SpikingConv):
        return "transition"
    if isinstance(module, AccumulationStep) and isinstance(module.projection, nn.Sequential):
        has_depthwise = len(module.projection) == 4  # depthwise, pointwise, BN, ReLU
        return "strided_step" if has_depthwise else "step"
    return None


def resnet_unit_paths(units: nn.ModuleList) -> Iterator[str]:
    """``layer{stage}.{block}`` of each unit: a stage starts at every block whose shortcut
    projects (the first block of the net starts stage 1 in any case)."""
    stage, block = 0, 0
    for index, unit in enumerate(units):
        if index == 0 or not isinstance(unit.shortcut, nn.Identity):
            stage, block = stage + 1, 0
        yield f"layer{stage}.{block}"
        block += 1


def seven_block_unit_paths(units: nn.ModuleList) -> Iterator[str]:
    """``conv.{j}`` of each unit in ResNetN's flat ``conv`` list: the stem is conv.0, a block
    is followed by its max-pool (one more position), a width transition is alone."""
    position = 1
    for unit in units:
        yield f"conv.{position}"
        position += 2 if isinstance(unit, ResidualBlock) else 1


UNIT_PATHS: dict[str, Callable[[nn.ModuleList], Iterator[str]]] = {
    "resnet": resnet_unit_paths, "seven_block": seven_block_unit_paths}


def net_kind(model: nn.Module) -> str:
    """"seven_block" for the event nets (their first unit pools), "resnet" for the ResNets,
    "other" for the rest (the transformers: only syops' own key names)."""
    if not hasattr(model, "accumulation") or not len(getattr(model, "units", ())):
        return "other"
    first = model.units[0]
    return "seven_block" if not isinstance(getattr(first, "pool", None), nn.Identity) else "resnet"


def _rename(name: str, rules: tuple[Rule, ...]) -> str:
    for pattern, replacement in rules:
        renamed, count = re.subn(pattern, replacement, name, count=1)
        if count:
            return renamed
    raise KeyError(f"no rule renames {name!r}")


def official_names(model: nn.Module, layout: Layout) -> dict[str, str]:
    """{our key: the layout's key} for every tensor of a reference model."""
    keys = list(model.state_dict())
    if layout is OWN:
        return {key: key for key in keys}
    paths = list(UNIT_PATHS[layout.nets](model.units))
    prefixes: dict[str, tuple[str, str | None]] = {}
    for index, (path, unit) in enumerate(zip(paths, model.units)):
        prefixes[f"units.{index}."] = (f"{path}.", unit_kind(unit))
    for index, step in enumerate(model.accumulation or ()):
        target = f"accumulation.{index}." if layout.own_accumulation_names else f"{paths[index]}."
        prefixes[f"accumulation.{index}."] = (target, None if layout.own_accumulation_names
                                              else unit_kind(step))
    return {key: _official_name(key, layout, prefixes) for key in keys}


def _official_name(key: str, layout: Layout, prefixes: dict[str, tuple[str, str | None]]) -> str:
    head = ".".join(key.split(".")[:2]) + "."
    if head not in prefixes:
        return _rename(key, layout.fixed)
    target, kind = prefixes[head]
    local = key[len(head):]
    return target + (local if kind is None else _rename(local, layout.units[kind]))


def layouts_for(model: nn.Module) -> tuple[Layout, ...]:
    """The layouts that can name this reference model."""
    kind = net_kind(model)
    return tuple(layout for layout in LAYOUTS if layout.nets in ("any", kind))


# ------------------------------------------------------------------ fitting
@dataclass(frozen=True)
class Fit:
    """How well a state_dict matches one layout of a model."""

    layout: Layout
    state: dict[str, Tensor]      # in our names (complete when ``ok``)
    missing: tuple[str, ...]      # layout names absent from the file
    unexpected: tuple[str, ...]   # file names the layout does not know
    dropped: tuple[str, ...]      # file names left out on purpose (unused / pathway)
    misshapen: tuple[str, ...]    # "name: [file shape] vs [model shape]"
    legacy_names: bool = False

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.misshapen)

    @property
    def matched(self) -> int:
        return len(self.state)


def _normalised(state: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], bool]:
    """The state with old ``.module.`` container segments removed, and whether any were."""
    if not any(OLD_CONTAINER.search(key) for key in state):
        return dict(state), False
    return {OLD_CONTAINER.sub(".", key): value for key, value in state.items()}, True


def _fitted_tensor(value: Tensor, expected: Tensor) -> Tensor | None:
    """``value`` shaped like ``expected``; a one-element tensor fits a scalar (old PLIF w)."""
    if value.shape == expected.shape:
        return value
    if value.numel() == 1 and expected.numel() == 1:
        return value.reshape(expected.shape)
    return None


def fit_layout(state: Mapping[str, Tensor], model: nn.Module, layout: Layout) -> Fit:
    """Match ``state`` against ``layout``'s names for ``model``."""
    state, legacy = _normalised(state) if layout is not OWN else (dict(state), False)
    names = official_names(model, layout)
    expected = model.state_dict()
    droppable = layout.unused + (layout.pathway if getattr(model, "accumulation", None) is None
                                 else ())
    known = set(names.values())
    unexpected = [k for k in state if k not in known]
    dropped = tuple(k for k in unexpected if any(re.search(p, k) for p in droppable))
    unexpected = tuple(k for k in unexpected if k not in dropped)
    missing, misshapen, renamed = [], [], {}
    for ours, theirs in names.items():
        if theirs not in state:
            missing.append(theirs)
            continue
        tensor = _fitted_tensor(state[theirs], expected[ours])
        if tensor is None:
            misshapen.append(f"{theirs} has shape {list(state[theirs].shape)} in the file, "
                             f"{list(expected[ours].shape)} in the model")
        else:
            renamed[ours] = tensor
    return Fit(layout, renamed, tuple(missing), unexpected, dropped, tuple(misshapen), legacy)


def best_fit(state: Mapping[str, Tensor], models: Callable[[Layout], nn.Module]) -> Fit:
    """The first layout that fits exactly, else the one matching the most keys.

    ``models(layout)`` gives the reference model to match (it may differ per layout: the
    official Spiking ResNets have no neuron on the shortcut)."""
    fits = []
    for layout in LAYOUTS:
        model = models(layout)
        if model is None or layout not in layouts_for(model):
            continue
        fit = fit_layout(state, model, layout)
        if fit.ok:
            return fit
        fits.append(fit)
    return max(fits, key=lambda fit: (fit.matched, -len(fit.unexpected)))


def describe_fit(fit: Fit) -> list[str]:
    """What loading through ``fit`` did, for notes."""
    notes = [] if fit.layout is OWN else [f"key layout: {fit.layout.source}"]
    if fit.legacy_names:
        notes.append("read the SeqToANNContainer '.module.' names of SpikingJelly 2021")
    if fit.dropped:
        notes.append(f"left out {len(fit.dropped)} tensor(s) the model does not use "
                     f"(accumulation pathway or unused heads), first: {fit.dropped[0]}")
    return notes


def listed(keys: Sequence[str], limit: int = 3) -> str:
    """The first ``limit`` keys and how many more."""
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def mismatch(fit: Fit, limit: int = 3) -> str:
    """One line on why ``fit`` is not exact."""
    parts = []
    if fit.missing:
        parts.append(f"missing keys: {listed(fit.missing, limit)}")
    if fit.unexpected:
        parts.append(f"unexpected keys: {listed(fit.unexpected, limit)}")
    if fit.misshapen:
        parts.append(listed(fit.misshapen, limit))
    where = "" if fit.layout is OWN else f" (closest layout: {fit.layout.name})"
    return "; ".join(parts) + where


# ------------------------------------------------------------------ training arguments
ARCH_ARGS: dict[str, str] = {
    "model": "arch", "arch": "arch", "model_name": "arch", "net": "arch",
    "T": "T", "time_steps": "T", "timesteps": "T",
    "connect_f": "connect", "cnf": "connect", "connect": "connect",
    "num_classes": "num_classes",
}
"""Saved training arguments that shape the architecture, and what they set."""

TRAINING_ARGS = frozenset({
    # optimisation and schedule
    "lr", "momentum", "weight_decay", "wd", "opt", "adam", "epochs", "start_epoch",
    "lr_scheduler", "lr_step_size", "lr_gamma", "step_size", "gamma", "cos_lr_T", "T_max",
    "lr_warmup_epochs", "lr_warmup_method", "lr_warmup_decay", "lr_min", "label_smoothing",
    "mixup_alpha", "cutmix_alpha", "clip_grad_norm", "norm_weight_decay", "model_ema",
    "model_ema_steps", "model_ema_decay", "zero_init_residual", "T_train", "loss",
    # hardware, precision, distribution
    "device", "gpu", "amp", "cupy", "backend", "use_conv_if", "sync_bn", "distributed",
    "world_size", "rank", "local_rank", "dist_url", "dist_backend", "workers", "j",
    # data loading and augmentation
    "batch_size", "b", "data_path", "data_dir", "dataset_name", "dts_cache", "cache_dataset",
    "val_ratio", "auto_augment", "random_erase", "interpolation", "train_crop_size",
    "val_crop_size", "val_resize_size", "ra_sampler", "ra_reps", "seed",
    # files and logging
    "output_dir", "out_dir", "resume", "print_freq", "tb", "test_only", "save_es", "pretrained",
})
"""Saved training arguments that do not change the architecture (ignored)."""


def read_training_args(args: Mapping[str, object]) -> tuple[dict[str, object], list[str]]:
    """({"arch"/"T"/"connect"/"num_classes": value} from the first field naming each, in
    ARCH_ARGS order), and the names of the fields neither table knows."""
    found: dict[str, object] = {}
    for name, meaning in ARCH_ARGS.items():
        if args.get(name) is not None and meaning not in found:
            found[meaning] = args[name]
    unknown = sorted(k for k in args if k not in ARCH_ARGS and k not in TRAINING_ARGS)
    return found, unknown
