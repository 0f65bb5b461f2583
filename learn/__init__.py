"""Super-resolution for the X-ray twin: degradation model, data sets, VDSR + transposed
convolution in Flax NNX, training, checkpoints, tiled inference and evaluation.

The network is conditioned on the degradation (SRMD): blur sigma in LR pixels and noise
sigma in the normalised units of the slice (percentile normalisation, see
``learn.infer``).

Public API (see ``docs/readme/learn.md``)::

    degrade(key, hr, degradation)            Degradation(scale, blur_sigma_px, noise_sigma)
    DegradationRange(scale, blur_sigma_px=(lo, hi), noise_sigma=(lo, hi))
    make_dataset(out_dir, scale=..., n_synthetic=..., image_dir=...)
    train(data, out, model_config=..., train_config=..., degradations=..., resume=..., init=...)
    enhance(image, checkpoint=None, *, blur_sigma=None, noise_sigma=None, tile=...)
    estimate_noise_sigma(image)
    evaluate(checkpoint, hr_images, degradation=..., seed=..., informed=False)
    load_testset(folder), load_checkpoint(path), default_checkpoint_path()
"""

from .checkpoint import Checkpoint, default_checkpoint_path, load_checkpoint, save_checkpoint
from .dataset import Dataset, load_dataset, make_dataset
from .degrade import (Degradation, DegradationRange, add_noise, bicubic_downsample, degrade,
                      gaussian_blur)
from .evaluate import (bicubic_upsample, evaluate, heldout_synthetic, load_testset,
                       wiener_deconvolve)
from .noise_estimate import estimate_noise_sigma
from .infer import OutOfRangeWarning
from .infer import apply_tiled, enhance
from .metrics import psnr, ssim
from .model import PRESETS, ModelConfig, VDSRTransposed, create_model, preset
from .synthetic import render_scene, render_scenes
from .train import TrainConfig, train

__all__ = [
    "Checkpoint", "Dataset", "DegradationRange", "apply_tiled", "bicubic_upsample", "enhance", "evaluate",
    "heldout_synthetic", "load_testset", "estimate_noise_sigma", "OutOfRangeWarning", "wiener_deconvolve", "Degradation", "ModelConfig", "PRESETS", "TrainConfig",
    "VDSRTransposed", "add_noise", "bicubic_downsample", "create_model", "default_checkpoint_path",
    "degrade", "gaussian_blur", "load_checkpoint", "load_dataset", "make_dataset", "preset",
    "psnr", "render_scene", "render_scenes", "save_checkpoint", "ssim", "train",
]
