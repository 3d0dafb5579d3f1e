#!/usr/bin/env python3
"""PyTorch + transformers CPU baseline for kneeclip's benchmarks (dev-only, never run in CI).

Times, at full CLIP ViT-B/32 size with RANDOM weights (speed does not depend on the weights;
the architecture comes from the real config.json, no checkpoint is needed), float32, eval,
``torch.set_num_threads(--threads)``:

  image_b1_ms             get_image_features on one preprocessed 224x224 film
  image_b16_ms_per_image  get_image_features on a batch of 16, time / 16
  anchors_ms              tokenise the five default anchors (padding to the longest) + get_text_features
  open_to_grade_ms        DICOM path -> pydicom decode (pylibjpeg for JPEG lossless) -> modality LUT,
                          VOI LUT/window, MONOCHROME1 inversion -> 8-bit -> CLIPImageProcessor (PIL) ->
                          image features -> cosine with precomputed anchors -> softmax
  train_epoch_s           fine-tuning recipe (last two blocks + adapter 512->128->512 + logit scale,
                          AdamW lr 1e-4 wd 1e-5, batch 64, frozen first ten blocks under no_grad),
                          oai-kl/train PNGs with hflip p=0.5 and rotation +-10 deg (PIL), single process;
                          a few batches are timed and EXTRAPOLATED to one epoch of all training films;
                          with --full-epoch one whole epoch plus validation on oai-kl/val is MEASURED

Each figure: warm-up first, then the median of repeated runs. Usage:

    $HOME/.cache/kneeclip-venv/bin/python tools/bench_pytorch.py [--json] [--threads 2]

Needs (tools/requirements-dev.txt): torch, transformers, tokenizers, pillow, numpy, pydicom,
pylibjpeg, pylibjpeg-libjpeg. Data are read in place from --data (default /work/shared/data).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import PIL
import torch
import torch.nn.functional as F
import transformers
from PIL import Image
from transformers import AutoTokenizer, CLIPConfig, CLIPModel

DEFAULT_CLIP_DIR = "/work/shared/models/clip-vit-base-patch32"
DEFAULT_DATA = "/work/shared/data"

ANCHORS = [  # METHOD.md, Table 1 of the paper, KL 0..4
    "Grade 1 (none): definite absence of X-ray changes of osteoarthritis",
    "Grade 2 (doubtful): doubtful joint space narrowing and possible osteophytic lipping",
    "Grade 3 (mild): definite osteophytes and possible joint space narrowing",
    "Grade 4 (moderate): moderate multiple osteophytes, definite narrowing of joint space, "
    "some sclerosis, and possible deformity of bone ends",
    "Grade 5 (severe): large osteophytes, marked narrowing of joint space, severe sclerosis, "
    "and definite deformity of bone ends",
]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

BATCH = 64
ADAPTER_RANK = 128
N_FROZEN_BLOCKS = 10
LR, WD = 1e-4, 1e-5
MAX_ROTATION_DEG = 10.0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def make_processor():
    kwargs = dict(
        do_resize=True, size={"shortest_edge": 224}, resample=Image.Resampling.BICUBIC,
        do_center_crop=True, crop_size={"height": 224, "width": 224},
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=CLIP_MEAN, image_std=CLIP_STD, do_convert_rgb=True,
    )
    try:  # transformers >= 5: the PIL/NumPy backend is its own class
        from transformers import CLIPImageProcessorPil

        return CLIPImageProcessorPil(**kwargs)
    except ImportError:  # transformers 4.x: CLIPImageProcessor is the PIL one
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor(**kwargs)


def as_tensor(out) -> torch.Tensor:
    """get_*_features returns a tensor (transformers 4.x) or an output with pooler_output (5.x)."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


CPU_TIMES: dict[int, list[float]] = {}


def timeit(fn, repeats: int, warmup: int = 1) -> list[float]:
    """Wall times; the process CPU times of the same runs go to CPU_TIMES[id(list)]."""
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    CPU_TIMES[id(times)] = cpu
    return times


def cpu_median(times: list[float], scale: float = 1.0) -> float:
    """Median process CPU time (all threads) of the runs that produced `times`."""
    return statistics.median(CPU_TIMES[id(times)]) * scale


def summary(times: list[float], scale: float = 1.0) -> dict:
    t = [x * scale for x in times]
    return {"median": statistics.median(t), "min": min(t), "max": max(t), "n": len(t)}


# ----------------------------------------------------------------------------------------
# DICOM -> 8-bit film
# ----------------------------------------------------------------------------------------


def dicom_to_uint8(path: str) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = pydicom.dcmread(path)
    arr = ds.pixel_array  # JPEG lossless decoded by pylibjpeg-libjpeg
    arr = apply_modality_lut(arr, ds)  # rescale slope/intercept or modality LUT
    has_voi = "WindowCenter" in ds or "VOILUTSequence" in ds
    if has_voi:
        arr = apply_voi_lut(arr, ds, index=0)  # first window / VOI LUT
        bits = int(ds.BitsStored)
        if "VOILUTSequence" in ds:
            lo, hi = float(arr.min()), float(arr.max())
        elif int(ds.PixelRepresentation) == 0:  # pydicom's windowing output range
            lo, hi = 0.0, float(2**bits - 1)
        else:
            lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    else:
        lo, hi = float(arr.min()), float(arr.max())
    arr = arr.astype(np.float64)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        arr = hi + lo - arr  # bright = low values: invert
    arr = (arr - lo) / max(hi - lo, 1e-12) * 255.0
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------


class Adapter(torch.nn.Module):
    def __init__(self, dim: int, rank: int):
        super().__init__()
        self.down = torch.nn.Linear(dim, rank)
        self.up = torch.nn.Linear(rank, dim)

    def forward(self, f):
        return f + self.up(torch.relu(self.down(f)))


def layer_out(y):
    return y[0] if isinstance(y, tuple) else y


def load_train_batch(files, labels, idx, processor, rng: random.Random):
    imgs = []
    for i in idx:
        im = Image.open(files[i]).convert("L")
        if rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        im = im.rotate(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG), resample=Image.Resampling.BILINEAR, fillcolor=0)
        imgs.append(im.convert("RGB"))
    px = processor(images=imgs, return_tensors="pt")["pixel_values"]
    return px, torch.tensor([labels[i] for i in idx], dtype=torch.int64)


def list_films(split_dir: Path) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for g in range(5):
        for f in sorted((split_dir / str(g)).glob("*.png")):
            files.append(f)
            labels.append(g)
    if not files:
        raise FileNotFoundError(f"no PNGs under {split_dir}")
    return files, labels


class Trainer:
    """The recipe: last two blocks + adapter + logit scale trainable, AdamW, frozen prefix under no_grad."""

    def __init__(self, model, anchors):
        self.vm = model.vision_model
        self.layers = self.vm.encoder.layers
        assert len(self.layers) - N_FROZEN_BLOCKS == 2
        self.projection = model.visual_projection
        for p in model.parameters():
            p.requires_grad_(False)
        trainable = []
        for layer in self.layers[N_FROZEN_BLOCKS:]:
            for p in layer.parameters():
                p.requires_grad_(True)
                trainable.append(p)
        self.adapter = Adapter(model.config.projection_dim, ADAPTER_RANK)
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        params = trainable + list(self.adapter.parameters()) + [self.logit_scale]
        self.opt = torch.optim.AdamW(params, lr=LR, weight_decay=WD)
        self.anchors = anchors.detach()

    def logits(self, px):
        with torch.no_grad():  # frozen prefix: embeddings, pre_layrnorm, blocks 0..9
            x = self.vm.pre_layrnorm(self.vm.embeddings(px))
            for layer in self.layers[:N_FROZEN_BLOCKS]:
                x = layer_out(layer(x, None))
        for layer in self.layers[N_FROZEN_BLOCKS:]:
            x = layer_out(layer(x, None))
        f = self.projection(self.vm.post_layernorm(x[:, 0]))
        z = F.normalize(self.adapter(f), dim=-1)
        return self.logit_scale.exp() * z @ self.anchors.T

    def step(self, px, y) -> float:
        loss = F.cross_entropy(self.logits(px), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def validate(self, px, y) -> tuple[float, int]:
        with torch.no_grad():
            logits = self.logits(px)
            return float(F.cross_entropy(logits, y, reduction="sum")), int((logits.argmax(-1) == y).sum())


def load_val_batch(files, labels, idx, processor):
    imgs = [Image.open(files[i]).convert("RGB") for i in idx]
    px = processor(images=imgs, return_tensors="pt")["pixel_values"]
    return px, torch.tensor([labels[i] for i in idx], dtype=torch.int64)


def bench_train(model, processor, anchors, data_dir: Path, n_batches: int, warmup: int, seed: int) -> dict:
    files, labels = list_films(data_dir / "oai-kl" / "train")
    n_files = len(files)
    trainer = Trainer(model, anchors)
    rng = random.Random(seed)
    order = list(range(n_files))
    rng.shuffle(order)
    data_t, step_t, total_t, losses = [], [], [], []
    for b in range(warmup + n_batches):
        idx = [order[(b * BATCH + k) % n_files] for k in range(BATCH)]
        t0 = time.perf_counter()
        px, y = load_train_batch(files, labels, idx, processor, rng)
        t1 = time.perf_counter()
        loss = trainer.step(px, y)
        t2 = time.perf_counter()
        if b >= warmup:
            data_t.append(t1 - t0)
            step_t.append(t2 - t1)
            total_t.append(t2 - t0)
            losses.append(loss)
    per_batch = statistics.median(total_t)
    return {
        "train_s_per_batch": per_batch,
        "train_s_per_batch_data": statistics.median(data_t),
        "train_s_per_batch_compute": statistics.median(step_t),
        "train_batches_timed": len(total_t),
        "train_timed_total_s": sum(total_t),
        "train_warmup_batches": warmup,
        "train_films": n_files,
        "train_epoch_s": per_batch / BATCH * n_files,
        "train_epoch_extrapolated": True,
        "train_epoch_note": f"EXTRAPOLATED: median seconds per batch of {BATCH} (data loading + augmentation + "
                            f"preprocessing + forward/backward/AdamW, single process) x {n_files}/{BATCH} batches",
    }


def bench_full_epoch(model, processor, anchors, data_dir: Path, seed: int, log) -> dict:
    """One whole epoch, timed end to end as `kneeclip train --epochs 1` does it: every
    training film once (shuffled, augmented, batches of 64, the last one partial), then
    the validation split without augmentation (loss and accuracy)."""
    files, labels = list_films(data_dir / "oai-kl" / "train")
    val_files, val_labels = list_films(data_dir / "oai-kl" / "val")
    trainer = Trainer(model, anchors)
    rng = random.Random(seed)
    order = list(range(len(files)))
    rng.shuffle(order)
    batches = [order[i:i + BATCH] for i in range(0, len(order), BATCH)]
    t0 = time.perf_counter()
    loss_sum = 0.0
    for b, idx in enumerate(batches):
        px, y = load_train_batch(files, labels, idx, processor, rng)
        loss_sum += trainer.step(px, y) * len(idx)
        if (b + 1) % 10 == 0:
            log(f"  batch {b + 1}/{len(batches)}  {time.perf_counter() - t0:.0f} s")
    t1 = time.perf_counter()
    val_loss, correct = 0.0, 0
    for i in range(0, len(val_files), BATCH):
        px, y = load_val_batch(val_files, val_labels, range(i, min(i + BATCH, len(val_files))), processor)
        l, c = trainer.validate(px, y)
        val_loss += l
        correct += c
    t2 = time.perf_counter()
    return {
        "train_epoch_s": t2 - t0,
        "train_epoch_extrapolated": False,
        "train_epoch_train_s": t1 - t0,
        "train_epoch_validation_s": t2 - t1,
        "train_films": len(files),
        "val_films": len(val_files),
        "train_loss": loss_sum / len(files),
        "val_loss": val_loss / len(val_files),
        "val_accuracy": correct / len(val_files),
        "train_epoch_note": "MEASURED: one full epoch (training films once, then validation), single process",
    }


# ----------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--repeats", type=int, default=10, help="timed runs for the short figures (default 10, min 10)")
    ap.add_argument("--train-batches", type=int, default=5, help="timed training batches (default 5)")
    ap.add_argument("--train-warmup", type=int, default=1, help="untimed training batches first (default 1)")
    ap.add_argument("--clip-dir", default=DEFAULT_CLIP_DIR, help="real CLIP config.json + tokenizer (no weights)")
    ap.add_argument("--data", type=Path, default=Path(DEFAULT_DATA), help="shared data folder")
    ap.add_argument("--dicom", default=None, help="DICOM for open_to_grade (default DATA/dicom/RG3_JPLL)")
    ap.add_argument("--skip-train", action="store_true", help="skip the training figure")
    ap.add_argument("--full-epoch", action="store_true",
                    help="time one whole epoch on oai-kl/train + validation on oai-kl/val instead of extrapolating")
    ap.add_argument("--train-only", action="store_true", help="skip the inference figures")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--matmul-bf16", action="store_true",
                    help="PyTorch's reduced-precision mode: f32 products as one bf16 product on oneDNN "
                         "(AMX where the CPU has it), torch.backends.mkldnn.matmul.fp32_precision = 'bf16'")
    args = ap.parse_args(argv)
    repeats = max(10, args.repeats)
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))

    torch.set_num_threads(args.threads)
    if args.matmul_bf16:
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)

    load_start = list(os.getloadavg())
    t0 = time.perf_counter()
    config = CLIPConfig.from_pretrained(args.clip_dir)
    model = CLIPModel(config).to(torch.float32).eval()  # random weights
    tok = AutoTokenizer.from_pretrained(args.clip_dir)
    processor = make_processor()
    log(f"model built in {time.perf_counter() - t0:.1f} s (random weights, "
        f"attn_implementation={model.config._attn_implementation}); threads={torch.get_num_threads()}")

    res: dict = {}
    notes: list[str] = []

    # one real film, preprocessed once
    film_dir = args.data / "oai-kl" / "train" / "2"
    if not args.train_only:
        films = sorted(film_dir.glob("*.png"))[:16]
        if len(films) < 16:
            raise SystemExit(f"need 16 PNGs under {film_dir}")
        pil = [Image.open(f).convert("RGB") for f in films]
        px16 = processor(images=pil, return_tensors="pt")["pixel_values"].to(torch.float32)
        px1 = px16[:1].contiguous()

    with torch.no_grad():
        if args.train_only:
            enc = tok(ANCHORS, padding=True, return_tensors="pt")
            anchors = F.normalize(as_tensor(model.get_text_features(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])), dim=-1)
            notes.append("inference figures skipped (--train-only)")
        else:
            log("image b1 ...")
            times = timeit(lambda: model.get_image_features(pixel_values=px1), repeats=max(repeats, 20), warmup=3)
            res["image_b1_ms"] = summary(times, 1e3)["median"]
            res.setdefault("cpu_time", {})["image_b1_ms"] = cpu_median(times, 1e3)
            res["image_b1_detail_ms"] = summary(times, 1e3)

            log("image b16 ...")
            times = timeit(lambda: model.get_image_features(pixel_values=px16), repeats=repeats, warmup=1)
            res["image_b16_ms_per_image"] = summary(times, 1e3 / 16)["median"]
            res["cpu_time"]["image_b16_ms_per_image"] = cpu_median(times, 1e3 / 16)
            res["image_b16_detail_ms_per_image"] = summary(times, 1e3 / 16)

            log("anchors ...")

            def anchors_fn():
                enc = tok(ANCHORS, padding=True, return_tensors="pt")  # pad to the longest
                return as_tensor(model.get_text_features(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]))

            times = timeit(anchors_fn, repeats=repeats, warmup=2)
            res["anchors_ms"] = summary(times, 1e3)["median"]
            res["cpu_time"]["anchors_ms"] = cpu_median(times, 1e3)
            res["anchors_detail_ms"] = summary(times, 1e3)
            anchors = F.normalize(anchors_fn(), dim=-1)
            logit_scale = model.logit_scale.exp()

            log("open to grade ...")
            dicom_path = args.dicom or str(args.data / "dicom" / "RG3_JPLL")
            try:
                import pydicom  # noqa: F401

                def grade():
                    film = dicom_to_uint8(dicom_path)
                    img = Image.fromarray(film, mode="L").convert("RGB")
                    px = processor(images=img, return_tensors="pt")["pixel_values"]
                    f = as_tensor(model.get_image_features(pixel_values=px))
                    cos = F.normalize(f, dim=-1) @ anchors.T
                    probs = (logit_scale * cos).softmax(-1)
                    return int(probs.argmax()), probs

                film = dicom_to_uint8(dicom_path)
                res["open_to_grade_input"] = {"file": dicom_path, "height": int(film.shape[0]), "width": int(film.shape[1])}
                times = timeit(grade, repeats=repeats, warmup=1)
                res["open_to_grade_ms"] = summary(times, 1e3)["median"]
                res["cpu_time"]["open_to_grade_ms"] = cpu_median(times, 1e3)
                res["open_to_grade_detail_ms"] = summary(times, 1e3)
                # where the time goes (one more run, stage by stage, medians)
                stages = {"decode_and_8bit": [], "preprocess": [], "image_features": []}
                for _ in range(5):
                    a = time.perf_counter()
                    film = dicom_to_uint8(dicom_path)
                    b = time.perf_counter()
                    px = processor(images=Image.fromarray(film, mode="L").convert("RGB"), return_tensors="pt")["pixel_values"]
                    c = time.perf_counter()
                    model.get_image_features(pixel_values=px)
                    d = time.perf_counter()
                    stages["decode_and_8bit"].append((b - a) * 1e3)
                    stages["preprocess"].append((c - b) * 1e3)
                    stages["image_features"].append((d - c) * 1e3)
                res["open_to_grade_stages_ms"] = {k: statistics.median(v) for k, v in stages.items()}
            except Exception as e:  # noqa: BLE001 -- report and go on
                res["open_to_grade_ms"] = None
                notes.append(f"open_to_grade skipped: could not decode {dicom_path} with pydicom: {type(e).__name__}: {e}")
                log(notes[-1])

    if args.skip_train:
        res["train_epoch_s"] = None
        notes.append("training figure skipped (--skip-train)")
    elif args.full_epoch:
        log(f"training: one full epoch in batches of {BATCH}, then validation ...")
        res.update(bench_full_epoch(model, processor, anchors, args.data, args.seed, log))
    else:
        log(f"training: {args.train_warmup} warm-up + {args.train_batches} timed batches of {BATCH} ...")
        res.update(bench_train(model, processor, anchors, args.data, args.train_batches, args.train_warmup, args.seed))

    import pydicom

    out = {
        "image_b1_ms": res.get("image_b1_ms"),
        "image_b16_ms_per_image": res.get("image_b16_ms_per_image"),
        "anchors_ms": res.get("anchors_ms"),
        "open_to_grade_ms": res.get("open_to_grade_ms"),
        "train_epoch_s": res.get("train_epoch_s"),
        "cpu_time": res.get("cpu_time", {}),
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "loadavg_1_5_15_start": load_start,
        "loadavg_1_5_15_end": list(os.getloadavg()),
        "transformers_version": transformers.__version__,
        "pydicom_version": pydicom.__version__,
        "pillow_version": PIL.__version__,
        "python_version": platform.python_version(),
        "dtype": "float32",
        "weights": "random (CLIPModel(CLIPConfig.from_pretrained(clip-vit-base-patch32)))",
        "attn_implementation": model.config._attn_implementation,
        "tokenizer_class": type(tok).__name__,
        "processor_class": type(processor).__name__,
        "statistic": "median of timed runs after warm-up",
        "details": {k: v for k, v in res.items() if k not in ("image_b1_ms", "image_b16_ms_per_image", "anchors_ms",
                                                                "open_to_grade_ms", "train_epoch_s", "cpu_time")},
        "notes": notes,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0

    def fmt(v, unit):
        return "skipped" if v is None else f"{v:10.2f} {unit}"

    rows = [
        ("image_b1_ms", "get_image_features, 1 film", out["image_b1_ms"], "ms"),
        ("image_b16_ms_per_image", "get_image_features, batch 16, per film", out["image_b16_ms_per_image"], "ms"),
        ("anchors_ms", "tokenise 5 anchors (pad longest) + get_text_features", out["anchors_ms"], "ms"),
        ("open_to_grade_ms", "DICOM path -> decode -> 8-bit -> preprocess -> features -> grade", out["open_to_grade_ms"], "ms"),
        ("train_epoch_s", f"one epoch of {res.get('train_films', '?')} films "
         + ("(EXTRAPOLATED)" if res.get("train_epoch_extrapolated", True) else "+ validation (MEASURED)"),
         out["train_epoch_s"], "s"),
    ]
    print()
    print(f"PyTorch {out['torch_version']} / transformers {out['transformers_version']} on {out['cpu']} "
          f"({out['cpu_count']} CPUs), threads={out['threads']}, float32, random ViT-B/32 weights, "
          f"attention={out['attn_implementation']}; medians after warm-up")
    print(f"{'key':<24} {'what':<68} {'value':>14}")
    for k, what, v, unit in rows:
        print(f"{k:<24} {what:<68} {fmt(v, unit):>14}")
    d = out["details"]
    if "open_to_grade_stages_ms" in d:
        s = d["open_to_grade_stages_ms"]
        print(f"  open_to_grade stages (ms): decode+8bit {s['decode_and_8bit']:.1f}, preprocess {s['preprocess']:.1f}, "
              f"image features {s['image_features']:.1f}")
    if "train_s_per_batch" in d:
        print(f"  training: {d['train_s_per_batch']:.2f} s per batch of {BATCH} (data {d['train_s_per_batch_data']:.2f} s, "
              f"compute {d['train_s_per_batch_compute']:.2f} s), median of {d['train_batches_timed']} batches after "
              f"{d['train_warmup_batches']} warm-up; {d['train_epoch_note']}")
    if "train_epoch_validation_s" in d:
        print(f"  full epoch: training {d['train_epoch_train_s']:.1f} s ({d['train_films']} films), validation "
              f"{d['train_epoch_validation_s']:.1f} s ({d['val_films']} films); train loss {d['train_loss']:.4f}, "
              f"val loss {d['val_loss']:.4f}, val accuracy {d['val_accuracy']:.3f}")
    print(f"  load average (1/5/15 min) at start {out['loadavg_1_5_15_start']}, at end {out['loadavg_1_5_15_end']} "
          f"-- anything else running on the machine inflates these figures")
    for n in notes:
        print("  note:", n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
