"""Reference models: ANN / Spiking / SEW ResNets, FSNN and DSNN, the 7B event nets, and the
spiking transformers (Spikformer and its FSNN/DSNN variants, Spikingformer, SDT).

>>> from syops.models import create_model, model_info
>>> info = model_info("fsnn18")
>>> model = create_model("fsnn18")
>>> logits = model(info.example_input())
"""

from syops.models.registry import ModelInfo, create_model, list_models, model_info

__all__ = ["ModelInfo", "create_model", "list_models", "model_info"]
