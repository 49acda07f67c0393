"""syops: synaptic-operation energy profiler for spiking neural networks."""

__version__ = "0.1.0"
