"""Super-resolution for the X-ray twin: degradation model, data sets, VDSR + transposed
convolution in Flax NNX, training, checkpoints, tiled inference and evaluation.

Public API (see ``docs/readme/learn.md``)::

    degrade(key, hr, degradation)            Degradation(scale, blur_sigma_px, noise_sigma)
    make_dataset(out_dir, degradation=..., n_synthetic=..., image_dir=...)
    train(data, out, model_config=..., train_config=..., resume=...)
    enhance(image, checkpoint=None, tile=...)
    evaluate(checkpoint, hr_images, degradation=..., seed=...)
    load_checkpoint(path), default_checkpoint_path()
"""

from .checkpoint import Checkpoint, default_checkpoint_path, load_checkpoint, save_checkpoint
from .dataset import Dataset, load_dataset, make_dataset
from .degrade import (Degradation, add_noise, bicubic_downsample, degrade, gaussian_blur)
from .evaluate import bicubic_upsample, evaluate, heldout_synthetic, wiener_deconvolve
from .infer import apply_tiled, enhance
from .metrics import psnr, ssim
from .model import PRESETS, ModelConfig, VDSRTransposed, create_model, preset
from .synthetic import render_scene, render_scenes
from .train import TrainConfig, train

__all__ = [
    "Checkpoint", "Dataset", "apply_tiled", "bicubic_upsample", "enhance", "evaluate",
    "heldout_synthetic", "wiener_deconvolve", "Degradation", "ModelConfig", "PRESETS", "TrainConfig",
    "VDSRTransposed", "add_noise", "bicubic_downsample", "create_model", "default_checkpoint_path",
    "degrade", "gaussian_blur", "load_checkpoint", "load_dataset", "make_dataset", "preset",
    "psnr", "render_scene", "render_scenes", "save_checkpoint", "ssim", "train",
]
