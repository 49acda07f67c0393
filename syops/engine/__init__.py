"""The counting engine: hooks on a model's calls (counter), the type probe (probe), call
sites (sites), the statistics of a call's input (spikes, coverage), the rules that price a
layer call (rules) or a functional product (ops), BatchNorm folding (fold), the scoped
interception of functional products (interception) and the table of neuron libraries (snn).
docs/architecture.md shows how a count flows through them."""
