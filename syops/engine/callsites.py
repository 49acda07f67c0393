"""Call sites: a counted layer's (or a module's op kind's) k-th call in every forward.

``CallSites`` creates the sites on first use, numbers them for the per-batch tables, and
hands each call to ``Measure``: layer calls with their dense count, functional products with
the operands that may carry spikes.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from syops.engine.measure import Measure
from syops.engine.ops import Contraction, LayerCall, Product
from syops.engine.rules import call_geometry
from syops.engine.sites import MULTI_LEVEL, SPIKE, OperandCounts, ProductSite, SiteCounts
from syops.engine.tallies import LayerTally, Site
from syops.options import Options


class CallSites:
    """Every call site of a run, and the per-forward call numbering."""

    def __init__(self, options: Options, measure: Measure, warn: Callable[[str], None]):
        self.options, self.measure, self.warn = options, measure, warn
        self.sites: list[Site] = []
        self.ops: dict[tuple[str, str], LayerTally] = {}
        self._calls: dict[Any, int] = {}      # calls of each layer in this forward

    def new_forward(self) -> None:
        self._calls.clear()
        self.measure.seen.clear()

    def layer_call(self, tally: LayerTally, module: nn.Module, x: Tensor, output: Any) -> None:
        """One call of a counted layer on input ``x``."""
        tally.input_shape = tuple(x.shape)
        geometry = call_geometry(tally.rule, module, x, output)   # output_size of a call
        dense = tally.rule.dense(geometry, x, output)
        if not tally.synaptic:
            dense *= self.options.bn_macs
        self.measure.layer_call(self._layer_site(tally, module), tally.rule, geometry, x, dense)

    def products(self, scope: str, op: str, rule: Callable, args: tuple, kwargs: dict) -> None:
        """The products one functional call (or one module call) performs."""
        try:
            products = rule(args, kwargs)
        except Exception as err:  # never break the user's forward; say what was not counted
            self.warn(f"{op} in {scope or 'the model'} not counted "
                      f"({type(err).__name__}: {err})")
            return
        tally = self.op_tally(scope, op)
        for product in products:
            self._product(tally, product)

    def op_tally(self, scope: str, op: str) -> LayerTally:
        tally = self.ops.get((scope, op))
        if tally is None:
            tally = self.ops[(scope, op)] = LayerTally(scope, None, 0, op)
        return tally

    def _site(self, tally: LayerTally, key: Any, make: Callable[[int], Any]) -> Site:
        index = self._calls.get(key, 0)
        self._calls[key] = index + 1
        site = tally.sites.get(index)
        if site is None:
            site = tally.sites[index] = Site(len(self.sites), make(index))
            self.sites.append(site)
        return site

    def _layer_site(self, tally: LayerTally, key: Any) -> Site:
        def make(index: int) -> SiteCounts:
            verdict = tally.verdict(index)
            fixed = (not tally.synaptic or tally.declared == MULTI_LEVEL
                     or (tally.declared is None and verdict is not None and not all(
                         verdict if isinstance(verdict, tuple) else (verdict,))))
            return SiteCounts(index, fixed=fixed, declared_spike=tally.declared == SPIKE,
                              events=self.options.spikes == "events")
        return self._site(tally, key, make)

    def _product(self, tally: LayerTally, product: Product) -> None:
        key = (tally.name, tally.type_name)
        if isinstance(product, LayerCall):
            tally.input_shape = tuple(product.x.shape)
            dense = product.rule.dense(product.geometry, product.x,
                                       torch.empty(product.output_shape, device="meta"))
            self.measure.layer_call(self._layer_site(tally, key), product.rule,
                                    product.geometry, product.x, dense)
            return
        live = self._live_operands(tally, product)
        events = self.options.spikes == "events"
        site = self._site(tally, key, lambda index: ProductSite(
            index, a=OperandCounts(fixed=not live[0], events=events),
            b=OperandCounts(fixed=not live[1], events=events)))
        tally.input_shape = tuple(product.a.shape) if product.a is not None else ()
        self.measure.product(site, product)

    def _live_operands(self, tally: LayerTally, product: Contraction) -> tuple[bool, bool]:
        """Which operands may carry spikes: tensors, not weights, binary in the probe."""
        verdict = tally.verdict(self._calls.get((tally.name, tally.type_name), 0))
        live = [t is not None and not fixed
                for t, fixed in ((product.a, product.a_fixed), (product.b, product.b_fixed))]
        if verdict is not None:
            live = [ok and bool(v) for ok, v in zip(live, verdict)]
        return live[0], live[1]
