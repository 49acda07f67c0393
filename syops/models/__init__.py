"""Reference models: ANN / Spiking / SEW ResNets, FSNN and DSNN, and the 7B event nets.

>>> from syops.models import create_model, model_info
>>> info = model_info("fsnn18")
>>> model = create_model("fsnn18")
>>> logits = model(info.example_input())
"""

from syops.models.registry import ModelInfo, create_model, list_models, model_info

__all__ = ["ModelInfo", "create_model", "list_models", "model_info"]
