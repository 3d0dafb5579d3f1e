#!/usr/bin/env python3
"""Dev-time generator of the CLIP parity fixtures used by kneeclip's Rust tests.

This script is NOT run in CI: its outputs under ``tests/fixtures/`` are committed.
It builds tiny, randomly initialised Hugging Face ``CLIPModel``s, saves them in HF
layout (``config.json`` + ``model.safetensors``), overlays a random fine-tuned
"head" (``head.safetensors``: last two vision blocks + residual adapter + logit
scale) and writes reference outputs computed with ``transformers``
(``reference.safetensors`` + ``reference.json``).

Usage (see tools/requirements-dev.txt for the pinned environment):

    python tools/make_fixtures.py                       # tiny fixtures -> tests/fixtures/
    python tools/make_fixtures.py --full --out DIR      # full-size random ViT-B/32 -> DIR (~600 MB, never commit)

The real tokenizer/config are read from ``--clip-dir`` (default
/work/shared/models/clip-vit-base-patch32); nothing from there is copied.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import PIL
import safetensors
import torch
import torch.nn.functional as F
import transformers
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

FORMAT_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLIP_DIR = "/work/shared/models/clip-vit-base-patch32"

PROMPTS = [
    "Grade 1 (none): definite absence of X-ray changes of osteoarthritis",
    "Grade 2 (doubtful): doubtful joint space narrowing and possible osteophytic lipping",
    "Grade 3 (mild): definite osteophytes and possible joint space narrowing",
    "Grade 4 (moderate): moderate multiple osteophytes, definite narrowing of joint space, "
    "some sclerosis, and possible deformity of bone ends",
    "Grade 5 (severe): large osteophytes, marked narrowing of joint space, severe sclerosis, "
    "and definite deformity of bone ends",
    "severe osteoarthritis",
    "normal knee",
]
ANCHOR_INDICES = [0, 1, 2, 3, 4]
QUERY_INDICES = [5, 6]
EXPECTED_PROMPT2_IDS = [
    49406, 3394, 273, 263, 37071, 857, 4143, 37071, 857, 6640, 2138,
    2977, 12807, 537, 3134, 20632, 28539, 1550, 554, 1682, 49407,
]

FILM_SIZES = [(224, 224), (300, 260), (180, 400)]  # (H, W)
FILM_SEED = 20240611

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

BASE_LOGIT_SCALE = 2.6592  # log(1/0.07), HF's logit_scale_init_value
HEAD_LOGIT_SCALE = math.log(50.0)

TINY_FIXTURES = {
    "tiny-clip": dict(
        seed=1234,
        adapter_rank=8,
        projection_dim=24,
        vision=dict(
            hidden_size=32,
            num_attention_heads=4,
            num_hidden_layers=4,
            intermediate_size=64,
            image_size=224,
            patch_size=32,
            hidden_act="quick_gelu",
            layer_norm_eps=1e-5,
        ),
        text=dict(
            hidden_size=16,
            num_attention_heads=2,
            num_hidden_layers=2,
            intermediate_size=32,
            vocab_size=49408,
            max_position_embeddings=77,
            eos_token_id=2,  # legacy value: HF pools at argmax(input_ids)
            bos_token_id=0,
            pad_token_id=1,
            hidden_act="quick_gelu",
            layer_norm_eps=1e-5,
        ),
    ),
    "tiny-clip-gelu": dict(
        seed=1235,
        adapter_rank=4,
        projection_dim=12,
        vision=dict(
            hidden_size=24,
            num_attention_heads=3,
            num_hidden_layers=3,
            intermediate_size=48,
            image_size=64,
            patch_size=16,
            hidden_act="gelu",
            layer_norm_eps=1e-6,  # non-default, must round-trip
        ),
        text=dict(
            hidden_size=8,
            num_attention_heads=2,
            num_hidden_layers=2,
            intermediate_size=16,
            vocab_size=49408,
            max_position_embeddings=77,
            eos_token_id=49407,  # new-style: HF pools at the first eos token
            bos_token_id=49406,
            pad_token_id=1,
            hidden_act="gelu",
            layer_norm_eps=1e-5,
        ),
    ),
}
FULL_SEED = 1236
QK_GAIN = 3.0  # q_proj/k_proj weights drawn with QK_GAIN x HF's init std, so attention is far from uniform
FULL_ADAPTER_RANK = 128


# ----------------------------------------------------------------------------------------
# Model construction / randomisation
# ----------------------------------------------------------------------------------------


def build_tiny_config(spec: dict) -> CLIPConfig:
    p = spec["projection_dim"]
    return CLIPConfig(
        text_config=dict(spec["text"], projection_dim=p),
        vision_config=dict(spec["vision"], projection_dim=p),
        projection_dim=p,
        logit_scale_init_value=BASE_LOGIT_SCALE,
    )


def make_model(config: CLIPConfig) -> CLIPModel:
    # Eager attention so that attention probabilities can be returned.
    config._attn_implementation = "eager"
    model = CLIPModel(config)
    model = model.to(torch.float32)
    model.eval()
    assert model.vision_model.config._attn_implementation == "eager"
    return model


def _init_std(name: str, model: CLIPModel) -> float:
    """HF CLIP init std (initializer_factor = 1) for a non-bias, non-LayerNorm parameter."""
    vc, tc = model.config.vision_config, model.config.text_config
    cfg = vc if name.startswith("vision_model.") else tc
    d = cfg.hidden_size
    nl = cfg.num_hidden_layers
    if name.endswith("embeddings.class_embedding"):
        return d**-0.5
    if name.endswith(("patch_embedding.weight", "position_embedding.weight", "token_embedding.weight")):
        return cfg.initializer_range
    if name.endswith(("q_proj.weight", "k_proj.weight")):
        # HF's std makes attention nearly uniform (q/k barely matter); QK_GAIN sharpens it.
        return QK_GAIN * d**-0.5 * (2 * nl) ** -0.5
    if name.endswith("v_proj.weight"):
        return d**-0.5 * (2 * nl) ** -0.5
    if name.endswith("out_proj.weight"):
        return d**-0.5
    if name.endswith("mlp.fc1.weight"):
        return (2 * d) ** -0.5
    if name.endswith("mlp.fc2.weight"):
        return d**-0.5 * (2 * nl) ** -0.5
    if name == "visual_projection.weight":
        return vc.hidden_size**-0.5
    if name == "text_projection.weight":
        return tc.hidden_size**-0.5
    raise ValueError(f"no init rule for parameter {name}")


@torch.no_grad()
def randomise_all(model: CLIPModel, gen: torch.Generator) -> None:
    """Re-draw EVERY parameter from our own generator so that none is ones/zeros."""
    layernorm_params = set()
    for mname, mod in model.named_modules():
        if isinstance(mod, torch.nn.LayerNorm):
            layernorm_params.add(f"{mname}.weight")
    for name, param in model.named_parameters():
        shape = param.shape
        if name == "logit_scale":
            val = BASE_LOGIT_SCALE + 0.05 * torch.randn((), generator=gen)
        elif name.endswith(".bias"):
            val = 0.02 * torch.randn(shape, generator=gen)
        elif name in layernorm_params:
            val = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:
            val = _init_std(name, model) * torch.randn(shape, generator=gen)
        param.copy_(val.to(torch.float32))
    for name, param in model.named_parameters():
        t = param.detach()
        assert t.dtype == torch.float32, name
        if t.numel() > 1:
            assert float(t.std()) > 0, f"{name} is constant"
        assert not torch.all(t == 0) and not torch.all(t == 1), f"{name} is zeros/ones"


@torch.no_grad()
def make_head(model: CLIPModel, gen: torch.Generator, rank: int) -> dict[str, torch.Tensor]:
    n_layers = model.config.vision_config.num_hidden_layers
    p = model.config.projection_dim
    sd = model.state_dict()
    head: dict[str, torch.Tensor] = {}
    for layer in (n_layers - 2, n_layers - 1):
        prefix = f"vision_model.encoder.layers.{layer}."
        names = sorted(k for k in sd if k.startswith(prefix))
        assert names, prefix
        for k in names:
            base = sd[k].detach().to(torch.float32)
            head[k] = (base + 0.05 * torch.randn(base.shape, generator=gen)).contiguous()
    head["adapter.down.weight"] = 0.1 * torch.randn((rank, p), generator=gen)
    head["adapter.down.bias"] = 0.1 * torch.randn((rank,), generator=gen)
    head["adapter.up.weight"] = 0.1 * torch.randn((p, rank), generator=gen)
    head["adapter.up.bias"] = 0.1 * torch.randn((p,), generator=gen)
    head["logit_scale"] = torch.tensor(HEAD_LOGIT_SCALE, dtype=torch.float32)
    return {k: v.to(torch.float32).contiguous() for k, v in head.items()}


def adapter(head: dict[str, torch.Tensor], f: torch.Tensor) -> torch.Tensor:
    """Residual adapter: L(f) = f + up(relu(down(f)))."""
    h = F.linear(f, head["adapter.down.weight"], head["adapter.down.bias"])
    h = torch.relu(h)
    return f + F.linear(h, head["adapter.up.weight"], head["adapter.up.bias"])


# ----------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------


def make_films(seed: int) -> list[np.ndarray]:
    """Synthetic 8-bit grayscale 'films': smooth structure (blobs, a dark band, a gradient,
    low-frequency waves) plus pixel noise, so that resampling genuinely matters."""
    rs = np.random.RandomState(seed)
    films = []
    for h, w in FILM_SIZES:
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        y /= h
        x /= w
        img = 0.25 * (1.0 - y) + 0.15 * x  # gradient
        for _ in range(7):  # bright/dark blobs ("bones")
            cy, cx = rs.uniform(0.1, 0.9, size=2)
            sy, sx = rs.uniform(0.05, 0.3, size=2)
            amp = rs.uniform(-0.6, 1.0)
            img += amp * np.exp(-(((y - cy) / sy) ** 2 + ((x - cx) / sx) ** 2) / 2)
        band_c = rs.uniform(0.4, 0.6)  # dark horizontal band ("joint space")
        img -= 0.5 * np.exp(-(((y - band_c) / 0.03) ** 2) / 2)
        fy, fx, ph = rs.uniform(2, 9), rs.uniform(2, 9), rs.uniform(0, 2 * np.pi)
        img += 0.1 * np.sin(2 * np.pi * (fy * y + fx * x) + ph)
        img = (img - img.min()) / (img.max() - img.min())
        img = 12 + 230 * img + rs.normal(0, 6.0, size=(h, w))
        films.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
    return films


def make_processor(image_size: int):
    kwargs = dict(
        do_resize=True,
        size={"shortest_edge": image_size},
        resample=Image.Resampling.BICUBIC,
        do_center_crop=True,
        crop_size={"height": image_size, "width": image_size},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
        do_convert_rgb=True,
    )
    try:  # transformers >= 5: the PIL/NumPy ("slow") backend is its own class
        from transformers import CLIPImageProcessorPil

        return CLIPImageProcessorPil(**kwargs), "pil"
    except ImportError:  # transformers 4.x: the slow processor is CLIPImageProcessor
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor(**kwargs), "slow"


def resized_hw(h: int, w: int, s: int) -> tuple[int, int]:
    """HF get_resize_output_image_size(default_to_square=False) for shortest_edge=s."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = s, int(s * long / short)
    return (new_long, new_short) if w <= h else (new_short, new_long)


# ----------------------------------------------------------------------------------------
# Independent re-implementation (sanity check of what HF computes, from the saved file)
# ----------------------------------------------------------------------------------------


def _act(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "quick_gelu":
        return x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return F.gelu(x)  # exact (erf) GELU
    raise ValueError(name)


def _block(sd, prefix, x, heads, eps, act, causal):
    b, t, d = x.shape
    hd = d // heads
    r = x
    x = F.layer_norm(x, (d,), sd[prefix + "layer_norm1.weight"], sd[prefix + "layer_norm1.bias"], eps)

    def proj(n):
        return F.linear(x, sd[prefix + f"self_attn.{n}.weight"], sd[prefix + f"self_attn.{n}.bias"])

    q = proj("q_proj").view(b, t, heads, hd).transpose(1, 2) * hd**-0.5
    k = proj("k_proj").view(b, t, heads, hd).transpose(1, 2)
    v = proj("v_proj").view(b, t, heads, hd).transpose(1, 2)
    s = q @ k.transpose(-1, -2)
    if causal:
        s = s + torch.full((t, t), float("-inf")).triu(1)
    a = s.softmax(-1)
    o = (a @ v).transpose(1, 2).reshape(b, t, d)
    x = r + F.linear(o, sd[prefix + "self_attn.out_proj.weight"], sd[prefix + "self_attn.out_proj.bias"])
    r = x
    x = F.layer_norm(x, (d,), sd[prefix + "layer_norm2.weight"], sd[prefix + "layer_norm2.bias"], eps)
    x = F.linear(x, sd[prefix + "mlp.fc1.weight"], sd[prefix + "mlp.fc1.bias"])
    x = _act(act, x)
    x = F.linear(x, sd[prefix + "mlp.fc2.weight"], sd[prefix + "mlp.fc2.bias"])
    return r + x, a


def manual_vision(sd, cfg: dict, px: torch.Tensor, overlay: dict | None = None):
    sd = dict(sd)
    if overlay:
        sd.update(overlay)
    d, ps = cfg["hidden_size"], cfg["patch_size"]
    x = F.conv2d(px, sd["vision_model.embeddings.patch_embedding.weight"], stride=ps)
    x = x.flatten(2).transpose(1, 2)
    cls = sd["vision_model.embeddings.class_embedding"].expand(x.shape[0], 1, d)
    x = torch.cat([cls, x], 1) + sd["vision_model.embeddings.position_embedding.weight"]
    eps = cfg["layer_norm_eps"]
    x = F.layer_norm(x, (d,), sd["vision_model.pre_layrnorm.weight"], sd["vision_model.pre_layrnorm.bias"], eps)
    hs, att = [x], []
    for i in range(cfg["num_hidden_layers"]):
        x, a = _block(sd, f"vision_model.encoder.layers.{i}.", x, cfg["num_attention_heads"], eps, cfg["hidden_act"], False)
        hs.append(x)
        att.append(a)
    pooled = F.layer_norm(x[:, 0], (d,), sd["vision_model.post_layernorm.weight"], sd["vision_model.post_layernorm.bias"], eps)
    return hs, att, pooled, F.linear(pooled, sd["visual_projection.weight"])


def manual_text(sd, cfg: dict, ids: list[int]):
    d = cfg["hidden_size"]
    t = torch.tensor([ids])
    x = sd["text_model.embeddings.token_embedding.weight"][t] + sd["text_model.embeddings.position_embedding.weight"][: len(ids)]
    eps = cfg["layer_norm_eps"]
    for i in range(cfg["num_hidden_layers"]):
        x, _ = _block(sd, f"text_model.encoder.layers.{i}.", x, cfg["num_attention_heads"], eps, cfg["hidden_act"], True)
    x = F.layer_norm(x, (d,), sd["text_model.final_layer_norm.weight"], sd["text_model.final_layer_norm.bias"], eps)
    pos = int(np.argmax(ids)) if cfg["eos_token_id"] == 2 else ids.index(cfg["eos_token_id"])
    pooled = x[0, pos]
    return pooled, F.linear(pooled, sd["text_projection.weight"])


# ----------------------------------------------------------------------------------------
# Fixture generation
# ----------------------------------------------------------------------------------------


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


@torch.no_grad()
def text_forward(model: CLIPModel, ids: torch.Tensor, mask: torch.Tensor | None):
    out = model.text_model(input_ids=ids, attention_mask=mask, return_dict=True)
    pooled = out.pooler_output
    return pooled, model.text_projection(pooled)


@torch.no_grad()
def generate(out_dir: Path, name: str, config: CLIPConfig, seed: int, adapter_rank: int, clip_dir: str) -> dict:
    print(f"== {name}: {out_dir}", flush=True)
    torch.manual_seed(seed)
    np.random.seed(seed)
    gen = torch.Generator().manual_seed(seed)

    model = make_model(config)
    randomise_all(model, gen)
    head = make_head(model, gen, adapter_rank)

    vc, tc = model.config.vision_config, model.config.text_config
    n_layers = vc.num_hidden_layers
    s = vc.image_size
    n_tokens = (s // vc.patch_size) ** 2 + 1

    # ---- save the model in HF layout ------------------------------------------------------
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    for f in sorted(out_dir.iterdir()):
        if f.name not in ("config.json", "model.safetensors"):
            print(f"   removing extra file written by save_pretrained: {f.name}")
            if f.is_dir():
                shutil.rmtree(f)
            else:
                f.unlink()
    assert (out_dir / "model.safetensors").is_file(), "expected a single, unsharded model.safetensors"
    saved = load_file(out_dir / "model.safetensors")
    assert all(v.dtype == torch.float32 for v in saved.values()), "model.safetensors must be float32"
    own_sd = model.state_dict()
    for k, v in saved.items():
        assert torch.equal(v, own_sd[k]), k
    missing_params = {k for k, _ in model.named_parameters()} - set(saved)
    assert not missing_params, missing_params
    save_file(head, str(out_dir / "head.safetensors"), metadata={"format": "pt"})

    # Round trip: reload from disk (checks config.json, e.g. layer_norm_eps / hidden_act / eos).
    reloaded = CLIPModel.from_pretrained(out_dir, attn_implementation="eager", dtype=torch.float32).eval()
    assert reloaded.config.vision_config.layer_norm_eps == vc.layer_norm_eps
    assert reloaded.config.vision_config.hidden_act == vc.hidden_act
    assert reloaded.config.text_config.eos_token_id == tc.eos_token_id

    # ---- tokenizer ------------------------------------------------------------------------
    tok = CLIPTokenizer.from_pretrained(clip_dir)
    input_ids = [list(tok(p, padding=False, truncation=False)["input_ids"]) for p in PROMPTS]
    assert input_ids[1] == EXPECTED_PROMPT2_IDS, input_ids[1]
    for ids in input_ids:
        assert ids[0] == 49406 and ids[-1] == 49407 and len(ids) <= tc.max_position_embeddings

    # ---- images ---------------------------------------------------------------------------
    films = make_films(FILM_SEED)
    processor, backend = make_processor(s)
    rgb = [Image.fromarray(np.repeat(f[:, :, None], 3, axis=2), mode="RGB") for f in films]
    pixel_values = processor(images=rgb, return_tensors="pt")["pixel_values"].to(torch.float32).contiguous()
    assert pixel_values.shape == (len(films), 3, s, s), pixel_values.shape

    # ---- vision tower ---------------------------------------------------------------------
    vout = model.vision_model(pixel_values=pixel_values, output_hidden_states=True, output_attentions=True, return_dict=True)
    hidden_states = list(vout.hidden_states)
    attentions = list(vout.attentions)
    assert len(hidden_states) == n_layers + 1 and len(attentions) == n_layers
    pooled_v = vout.pooler_output
    image_embeds = model.visual_projection(pooled_v)

    # What does hidden_states[k] mean? Check explicitly against the modules.
    emb = model.vision_model.embeddings(pixel_values)
    pre = model.vision_model.pre_layrnorm(emb)
    hs_checks = {"hs0_vs_embeddings_after_pre_layrnorm": maxdiff(hidden_states[0], pre),
                 "hs0_vs_embeddings_before_pre_layrnorm": maxdiff(hidden_states[0], emb),
                 "hsL_vs_last_hidden_state": maxdiff(hidden_states[-1], vout.last_hidden_state)}
    assert hs_checks["hs0_vs_embeddings_after_pre_layrnorm"] == 0.0, hs_checks
    assert hs_checks["hs0_vs_embeddings_before_pre_layrnorm"] > 1e-3, hs_checks
    assert hs_checks["hsL_vs_last_hidden_state"] == 0.0, hs_checks
    x = pre
    for i, layer in enumerate(model.vision_model.encoder.layers):
        y = layer(x, None)
        x = y[0] if isinstance(y, tuple) else y
        d = maxdiff(x, hidden_states[i + 1])
        assert d <= 1e-6, (i, d)
    assert maxdiff(model.vision_model.post_layernorm(hidden_states[-1][:, 0]), pooled_v) == 0.0

    # Compare against get_image_features where it returns a tensor (transformers 4.x) or an output (5.x)
    gif = model.get_image_features(pixel_values=pixel_values)
    gif = gif if isinstance(gif, torch.Tensor) else gif.pooler_output
    assert maxdiff(gif, image_embeds) <= 1e-6

    # ---- text tower -----------------------------------------------------------------------
    text_pooled, text_embeds = [], []
    for ids in input_ids:
        t = torch.tensor([ids], dtype=torch.int64)
        pooled, proj = text_forward(model, t, torch.ones_like(t))
        text_pooled.append(pooled[0])
        text_embeds.append(proj[0])
    text_embeds_t = torch.stack(text_embeds)

    # Padding invariance: same prompt padded to 77 (pad = tokenizer's pad token) under the mask,
    # one prompt at a time and all prompts in one padded batch.
    pad_diffs_single, pad_diffs_batch, pad_diffs_pooled = [], [], []
    batch = tok(PROMPTS, padding="max_length", max_length=tc.max_position_embeddings, return_tensors="pt")
    b_pooled, b_proj = text_forward(model, batch["input_ids"], batch["attention_mask"])
    for m, p in enumerate(PROMPTS):
        enc = tok(p, padding="max_length", max_length=tc.max_position_embeddings, return_tensors="pt")
        assert enc["input_ids"][0, : len(input_ids[m])].tolist() == input_ids[m]
        pooled, proj = text_forward(model, enc["input_ids"], enc["attention_mask"])
        pad_diffs_single.append(maxdiff(proj[0], text_embeds[m]))
        pad_diffs_pooled.append(maxdiff(pooled[0], text_pooled[m]))
        pad_diffs_batch.append(maxdiff(b_proj[m], text_embeds[m]))
    pad_max = max(pad_diffs_single + pad_diffs_batch + pad_diffs_pooled)
    pad_scale = max(float(text_embeds_t.abs().max()), float(torch.stack(text_pooled).abs().max()))
    # The same comparison in float64 separates real (masking) differences from float32 round-off
    # (different GEMM shapes => different accumulation order).
    # (HF's eager attention always does its softmax in float32, so the float64 re-run uses SDPA.)
    m64 = copy.deepcopy(model).to(torch.float64)
    m64.set_attn_implementation("sdpa")
    pad_max64 = 0.0
    for m, p in enumerate(PROMPTS):
        t = torch.tensor([input_ids[m]], dtype=torch.int64)
        a_pooled, a_proj = text_forward(m64, t, torch.ones_like(t))
        enc = tok(p, padding="max_length", max_length=tc.max_position_embeddings, return_tensors="pt")
        b_pooled64, b_proj64 = text_forward(m64, enc["input_ids"], enc["attention_mask"])
        pad_max64 = max(pad_max64, maxdiff(a_pooled, b_pooled64), maxdiff(a_proj, b_proj64))
    del m64
    print(f"   padding invariance: max |diff| = {pad_max:.3g} (float32; max |value| {pad_scale:.3g}, "
          f"relative {pad_max / pad_scale:.3g}), {pad_max64:.3g} in float64", flush=True)
    assert pad_max64 <= 1e-12, pad_max64
    assert pad_max / pad_scale <= 1e-6 and pad_max <= 1e-5, (pad_max, pad_scale)

    # ---- similarities ---------------------------------------------------------------------
    logit_scale = model.logit_scale.detach().clone()
    anchors = text_embeds_t[ANCHOR_INDICES]
    queries = text_embeds_t[QUERY_INDICES]
    cos = cosine(image_embeds, anchors)
    logits = logit_scale.exp() * cos
    probs = logits.softmax(-1)
    qcos = cosine(image_embeds, queries)

    # Cross-check against CLIPModel.forward's logits_per_image
    full_out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], pixel_values=pixel_values)
    assert maxdiff(full_out.logits_per_image[:, ANCHOR_INDICES], logits) <= 1e-4

    # ---- head path ------------------------------------------------------------------------
    hidden_in = hidden_states[n_layers - 2]
    head_model = copy.deepcopy(model)
    hsd = {k: v for k, v in head.items() if k.startswith("vision_model.")}
    missing, unexpected = head_model.load_state_dict(hsd, strict=False)
    assert not unexpected, unexpected
    hv = head_model.vision_model(pixel_values=pixel_values, output_hidden_states=True, return_dict=True)
    assert maxdiff(hv.hidden_states[n_layers - 2], hidden_in) == 0.0  # frozen prefix unchanged
    head_base = head_model.visual_projection(hv.pooler_output)
    # same thing by running only the two head blocks on the frozen prefix output
    x = hidden_in
    for layer in head_model.vision_model.encoder.layers[n_layers - 2:]:
        y = layer(x, None)
        x = y[0] if isinstance(y, tuple) else y
    head_base2 = head_model.visual_projection(head_model.vision_model.post_layernorm(x[:, 0]))
    assert maxdiff(head_base, head_base2) <= 1e-6
    head_embeds = adapter(head, head_base)
    head_scale = head["logit_scale"]
    head_cos = cosine(head_embeds, anchors)
    head_logits = head_scale.exp() * head_cos
    head_probs = head_logits.softmax(-1)
    assert maxdiff(head_embeds, image_embeds) > 1e-3  # the head really changes things

    # ---- independent re-implementation from the saved safetensors -------------------------
    vcfg = dict(hidden_size=vc.hidden_size, patch_size=vc.patch_size, layer_norm_eps=vc.layer_norm_eps,
                num_hidden_layers=n_layers, num_attention_heads=vc.num_attention_heads, hidden_act=vc.hidden_act)
    tcfg = dict(hidden_size=tc.hidden_size, layer_norm_eps=tc.layer_norm_eps, num_hidden_layers=tc.num_hidden_layers,
                num_attention_heads=tc.num_attention_heads, hidden_act=tc.hidden_act, eos_token_id=tc.eos_token_id)
    m_hs, m_att, m_pooled, m_emb = manual_vision(saved, vcfg, pixel_values)
    _, _, _, m_head_base = manual_vision(saved, vcfg, pixel_values, overlay=head)
    manual = {
        "vision_hidden_states": max(maxdiff(a, b) for a, b in zip(m_hs, hidden_states)),
        "vision_attentions": max(maxdiff(a, b) for a, b in zip(m_att, attentions)),
        "vision_pooled": maxdiff(m_pooled, pooled_v),
        "image_embeds": maxdiff(m_emb, image_embeds),
        "head_image_embeds": maxdiff(adapter(head, m_head_base), head_embeds),
    }
    tdiffs = []
    for m, ids in enumerate(input_ids):
        mp, me = manual_text(saved, tcfg, ids)
        tdiffs.append(max(maxdiff(mp, text_pooled[m]), maxdiff(me, text_embeds[m])))
    manual["text"] = max(tdiffs)
    # reloaded model (config.json round trip)
    r_v = reloaded.vision_model(pixel_values=pixel_values, return_dict=True).pooler_output
    manual["reloaded_image_embeds"] = maxdiff(reloaded.visual_projection(r_v), image_embeds)
    r_t = [text_forward(reloaded, torch.tensor([ids]), None)[1][0] for ids in input_ids]
    manual["reloaded_text_embeds"] = maxdiff(torch.stack(r_t), text_embeds_t)
    print(f"   independent re-implementation / reload max |diff|: {manual}", flush=True)
    tol = 1e-4 if vc.hidden_size >= 256 else 1e-5
    assert all(v <= tol for v in manual.values()), manual

    # ---- reference.safetensors ------------------------------------------------------------
    ref: dict[str, torch.Tensor] = {}
    for i, f in enumerate(films):
        ref[f"films.{i}"] = torch.from_numpy(f.copy())
    ref["pixel_values"] = pixel_values
    for k, h in enumerate(hidden_states):
        ref[f"vision.hidden_states.{k}"] = h
    for k, a in enumerate(attentions):
        ref[f"vision.attentions.{k}"] = a
    ref["vision.pooled"] = pooled_v
    ref["image_embeds"] = image_embeds
    for m, ids in enumerate(input_ids):
        ref[f"text.input_ids.{m}"] = torch.tensor(ids, dtype=torch.int64)
        ref[f"text.pooled.{m}"] = text_pooled[m]
    ref["text_embeds"] = text_embeds_t
    ref["cosine"] = cos
    ref["logits"] = logits
    ref["probs"] = probs
    ref["query_cosine"] = qcos
    ref["head.hidden_in"] = hidden_in
    ref["head.image_embeds"] = head_embeds
    ref["head.cosine"] = head_cos
    ref["head.logits"] = head_logits
    ref["head.probs"] = head_probs
    ref = {k: v.detach().clone().contiguous() for k, v in ref.items()}
    for k, v in ref.items():
        if k.startswith("films."):
            assert v.dtype == torch.uint8
        elif k.startswith("text.input_ids."):
            assert v.dtype == torch.int64
        else:
            assert v.dtype == torch.float32, k
            assert torch.isfinite(v).all(), k
    save_file(ref, str(out_dir / "reference.safetensors"), metadata={"format": "pt"})

    # ---- reference.json -------------------------------------------------------------------
    info = {
        "format_version": FORMAT_VERSION,
        "fixture": name,
        "generator": "tools/make_fixtures.py",
        "seed": seed,
        "film_seed": FILM_SEED,
        "seeding": "torch.manual_seed(seed); np.random.seed(seed); all parameters, head and adapter drawn "
                   "from torch.Generator().manual_seed(seed); films from np.random.RandomState(film_seed)",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "safetensors": safetensors.__version__,
            "numpy": np.__version__,
            "pillow": PIL.__version__,
        },
        "dtype": "float32",
        "parameter_init": "every parameter re-drawn: LayerNorm weights 1 + 0.1*randn, all biases 0.02*randn, "
                          f"logit_scale {BASE_LOGIT_SCALE} + 0.05*randn, q_proj/k_proj weights {QK_GAIN} x HF init std "
                          "(sharper attention), all other weights normal with HF's CLIP init std",
        "config": {
            "projection_dim": model.config.projection_dim,
            "vision": {
                "hidden_size": vc.hidden_size,
                "num_attention_heads": vc.num_attention_heads,
                "num_hidden_layers": n_layers,
                "intermediate_size": vc.intermediate_size,
                "image_size": s,
                "patch_size": vc.patch_size,
                "num_tokens": n_tokens,
                "hidden_act": vc.hidden_act,
                "layer_norm_eps": vc.layer_norm_eps,
            },
            "text": {
                "hidden_size": tc.hidden_size,
                "num_attention_heads": tc.num_attention_heads,
                "num_hidden_layers": tc.num_hidden_layers,
                "intermediate_size": tc.intermediate_size,
                "vocab_size": tc.vocab_size,
                "max_position_embeddings": tc.max_position_embeddings,
                "eos_token_id": tc.eos_token_id,
                "bos_token_id": tc.bos_token_id,
                "pad_token_id": tc.pad_token_id,
                "hidden_act": tc.hidden_act,
                "layer_norm_eps": tc.layer_norm_eps,
                "pooling": ("argmax(input_ids) (legacy eos_token_id == 2)" if tc.eos_token_id == 2
                            else f"first position where input_ids == eos_token_id ({tc.eos_token_id})"),
            },
            "attn_implementation": "eager",
        },
        "prompts": PROMPTS,
        "input_ids": input_ids,
        "anchor_indices": ANCHOR_INDICES,
        "query_indices": QUERY_INDICES,
        "tokenizer": {
            "class": type(tok).__name__,
            "source": "clip-vit-base-patch32 tokenizer files (not copied)",
            "call": "tokenizer(prompt, padding=False, truncation=False) -- each prompt alone, no padding",
        },
        "logit_scale": {"raw": float(logit_scale), "exp": float(logit_scale.exp())},
        "head": {
            "file": "head.safetensors",
            "layers": [n_layers - 2, n_layers - 1],
            "layer_tensors": "ALL tensors of vision_model.encoder.layers.{L-2,L-1}; base + 0.05*randn",
            "adapter_rank": adapter_rank,
            "adapter": "L(f) = f + up(relu(down(f))), f = image_embeds (projected, not normalised); "
                       "down: [R,P] weight + [R] bias, up: [P,R] weight + [P] bias",
            "logit_scale": {"raw": float(head_scale), "exp": float(head_scale.exp())},
            "path": "hidden_in = vision.hidden_states[L-2] (base model) -> head layers L-2, L-1 -> base "
                    "post_layernorm(CLS) -> base visual_projection -> adapter -> cosine with base anchor "
                    "text_embeds -> exp(head logit_scale) * cosine -> softmax",
        },
        "preprocessing": {
            "processor_class": type(processor).__name__,
            "processor_backend": backend,
            "input": "PIL RGB image made by replicating the uint8 gray film into 3 channels",
            "do_resize": True,
            "size": {"shortest_edge": s},
            "resize_rule": "shortest edge -> image_size, long edge -> int(image_size * long / short) (floor)",
            "resample": "bicubic (PIL.Image.BICUBIC, resampled on the uint8 image, result stays uint8)",
            "do_center_crop": True,
            "crop_size": {"height": s, "width": s},
            "crop_rule": "top = (h - S) // 2, left = (w - S) // 2",
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": list(CLIP_MEAN),
            "image_std": list(CLIP_STD),
            "normalize_rule": "x = float32(uint8 * (1/255) in float64); (x - mean) / std in float32",
            "films": [
                {
                    "index": i,
                    "height": h,
                    "width": w,
                    "resized_hw": list(resized_hw(h, w, s)),
                    "crop_top_left": [(resized_hw(h, w, s)[0] - s) // 2, (resized_hw(h, w, s)[1] - s) // 2],
                }
                for i, (h, w) in enumerate(FILM_SIZES)
            ],
        },
        "hidden_states_index": {
            "count": n_layers + 1,
            "0": "embeddings output AFTER pre_layrnorm (patch conv + class token + position embeddings, "
                 "then pre_layrnorm) = input to encoder layer 0",
            "k (1..L-1)": "output of encoder layer k-1 = input to encoder layer k",
            "L": "output of the last encoder layer (= last_hidden_state; NO post_layernorm)",
            "checks_max_abs_diff": hs_checks,
        },
        "attentions_index": "vision.attentions.k = softmax attention probabilities of encoder layer k, [N, heads, T, T]",
        "reference_tensors": {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)} for k, v in ref.items()},
        "padding_invariance": {
            "description": "max |diff| between text features of each prompt encoded alone (no padding) and "
                           "padded to 77 with the tokenizer's pad token under the attention mask "
                           "(single prompt, and all prompts in one padded batch); float32 differences are round-off "
                           "(different GEMM shapes), the float64 re-run (SDPA attention, since HF eager attention "
                           "does its softmax in float32) shows the masking itself is exact",
            "max_abs_diff": pad_max,
            "max_abs_value": pad_scale,
            "max_rel_diff": pad_max / pad_scale,
            "max_abs_diff_float64": pad_max64,
            "text_embeds_single_padded": pad_diffs_single,
            "text_pooled_single_padded": pad_diffs_pooled,
            "text_embeds_batch_padded": pad_diffs_batch,
        },
        "self_checks_max_abs_diff": manual,
        "tolerance": 1e-4,
    }
    text = json.dumps(info, indent=2)
    # keep flat lists of numbers (input_ids, shapes, mean/std) on one line
    text = re.sub(r"\[\s*([-0-9.e+,\s]+?)\s*\]", lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text)
    assert json.loads(text) == info
    with open(out_dir / "reference.json", "w") as fh:
        fh.write(text + "\n")
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="full-size random ViT-B/32 from the real config")
    ap.add_argument("--out", type=Path, default=None, help="output directory (default tests/fixtures; required with --full)")
    ap.add_argument("--clip-dir", default=DEFAULT_CLIP_DIR, help="folder with the real CLIP config + tokenizer")
    args = ap.parse_args(argv)

    torch.set_num_threads(2)
    torch.set_default_dtype(torch.float32)

    if args.full:
        if args.out is None:
            ap.error("--full needs --out DIR (outside the repository)")
        out = args.out.resolve()
        if out == REPO_ROOT or REPO_ROOT in out.parents:
            ap.error("--full output (~600 MB) must not go inside the repository")
        config = CLIPConfig.from_pretrained(args.clip_dir)
        generate(out, "full-vit-b32-random", config, FULL_SEED, FULL_ADAPTER_RANK, args.clip_dir)
    else:
        out = (args.out or REPO_ROOT / "tests" / "fixtures").resolve()
        for name, spec in TINY_FIXTURES.items():
            generate(out / name, name, build_tiny_config(spec), spec["seed"], spec["adapter_rank"], args.clip_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
