"""The output folder, below everything that writes into one (the runner, the experiments, the page).

    records   each experiment's records (JSON lines) and arrays (.npz): `Store`, `StoredSample`,
              `Layout`, `opened`; the settings hash and the model digest that key them
    files     files written whole (`atomic_write`, `write_text`, `write_json`), the folder's lock
              and its manifest (.eval.json)
"""
from .records import (HEATMAP, Layout, Store, StoredSample, append, key, model_digest, opened, read,
                      settings_hash)

__all__ = ["HEATMAP", "Layout", "Store", "StoredSample", "append", "key", "model_digest", "opened", "read",
           "settings_hash"]
