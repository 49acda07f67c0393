"""Pricing counts: energy presets and user energy files (presets), memory traffic (memory),
published counting conventions (conventions) and ANN baselines (baseline).

``syops.energy`` keeps the names it had as a module (``EnergyModel``, ``PRESETS``, ...)."""

from syops.energy.presets import (
                                  CHOICES,
                                  COSTS,
                                  DRAM_PJ,
                                  FIELDS,
                                  MAX_FILE_BYTES,
                                  MAX_PJ,
                                  MEMORY_COSTS,
                                  PJ_PER_MJ,
                                  PRESETS,
                                  ROW_COLUMNS,
                                  TERMS,
                                  EnergyModel,
                                  breakdown_mj,
                                  energy_model,
                                  energy_rows,
                                  layer_terms_pj,
                                  load_energy_file,
                                  neuron_terms_pj,
                                  to_toml,
)

__all__ = ["CHOICES", "COSTS", "DRAM_PJ", "FIELDS", "MAX_FILE_BYTES", "MAX_PJ", "MEMORY_COSTS",
           "PJ_PER_MJ", "PRESETS", "ROW_COLUMNS", "TERMS", "EnergyModel", "breakdown_mj",
           "energy_model", "energy_rows", "layer_terms_pj", "load_energy_file",
           "neuron_terms_pj", "to_toml"]
