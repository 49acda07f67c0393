"""Writers of small files in the published formats: lava-dl netx HDF5 networks and
protocol-2 pickles of numpy arrays (as abr/power_benchmarks ships its weights)."""

import pickle

import h5py
import numpy as np

CUBA = {"type": b"LOIHI", "vThMant": 25, "iDecay": 4096, "vDecay": 1024, "refDelay": 1}


def write_netx(path, layers, t_sample=None):
    """``layers``: dicts of datasets per layer (a ``neuron`` dict becomes its group)."""
    with h5py.File(path, "w") as file:
        for index, config in enumerate(layers):
            group = file.create_group(f"layer/{index}")
            for key, value in config.items():
                if key == "neuron":
                    for nkey, nvalue in value.items():
                        group[f"neuron/{nkey}"] = nvalue
                else:
                    group[key] = value
        if t_sample is not None:
            file["simulation/tSample"] = t_sample
            file["simulation/Ts"] = 1


def conv(cin, cout, hw, stride=(1, 1), padding=(0, 0), neuron=CUBA, seed=0):
    weight = np.random.default_rng(seed).integers(-8, 8, (cout, cin, 3, 3)).astype(np.float32)
    return {"type": [b"conv"], "shape": np.array([cout, *hw]), "weight": weight,
            "bias": np.zeros(cout, np.float32), "inChannels": cin, "outChannels": cout,
            "kernelSize": np.array([3, 3]), "stride": np.array(stride),
            "padding": np.array(padding), "dilation": np.array([1, 1]), "groups": 1,
            "neuron": neuron}


def dense(fin, fout, neuron=CUBA, seed=0):
    weight = np.random.default_rng(seed).integers(-8, 8, (fout, fin)).astype(np.float32)
    return {"type": [b"dense"], "shape": np.array([fout, 1, 1]), "inFeatures": fin,
            "outFeatures": fout, "weight": weight.reshape(-1) if fout == 1 else weight,
            "bias": np.zeros(fout, np.float32), "neuron": neuron}


def input_layer(shape, neuron=CUBA):
    return {"type": [b"input"], "shape": np.array(shape), "weight": 40.0, "bias": 36.0,
            "neuron": neuron}


def flatten(size):
    return {"type": [b"flatten"], "shape": np.array([1, 1, size])}


def write_arrays(path, arrays):
    """A protocol-2 pickle of a dict of arrays (numpy.core.multiarray._reconstruct)."""
    with open(path, "wb") as file:
        pickle.dump(arrays, file, protocol=2)
