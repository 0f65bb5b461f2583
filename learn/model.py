"""VDSR with a transposed-convolution up-sampling stage, in Flax NNX.

The network takes the low-resolution (LR) image and the degradation it suffered and
returns the ``scale``-times larger image::

    y = bicubic_up(x) + T( relu(conv_D( ... relu(conv_1([x, c_blur, c_noise])) ... )) )

* ``c_blur``, ``c_noise`` are constant input maps that tell the network the blur sigma
  (LR px) and the noise sigma (normalised units) of this image: the SRMD approach
  (Zhang, Zuo & Zhang 2018, CVPR, "Learning a single convolutional super-resolution
  network for multiple degradations"), which lets one network serve every blur and
  noise level of its trained range instead of one network per degradation. The
  encoding is :func:`condition_features` (blur as is, noise as log10): the noise
  range spans 40x, and a log encoding spaces its levels evenly.

* ``conv_1 .. conv_D`` are VDSR's 3x3 convolutions (Kim et al. 2016, CVPR,
  "Accurate image super-resolution using very deep convolutional networks":
  depth 20, 64 channels, ReLU, global residual learning). They run on the **LR
  grid**, so they cost ``scale**2`` times less than VDSR's original HR-grid body.
* ``T`` is a learned transposed convolution (stride ``scale``, kernel ``2*scale -
  scale % 2``) that maps the last feature maps onto the HR grid as a residual
  image; the paper being twinned adds "trans-convolution" to VDCN for this step.
* ``bicubic_up`` is the fixed global residual path (VDSR learns HR - bicubic).

Checkerboard artefacts (Odena et al. 2016, Distill) come from a transposed
convolution whose kernel gives the ``scale**2`` output phases unequal weights.
``T`` is initialised as ``bilinear(kx, ky) * a_c``: a per-channel weight ``a_c``
times the bilinear interpolation kernel, so at initialisation ``T`` equals a 1x1
convolution followed by bilinear up-sampling, which has no checkerboard; training
starts from there (the same idea as ICNR, Aitken et al. 2017).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

SUPPORTED_SCALES = (2, 3, 4)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of :class:`VDSRTransposed`.

    Attributes
    ----------
    scale : int
        Up-sampling factor (2, 3 or 4).
    depth : int
        Number of 3x3 convolutions on the LR grid (VDSR: 20).
    width : int
        Channels of the hidden convolutions (VDSR: 64).
    """

    scale: int = 2
    depth: int = 20
    width: int = 64

    def __post_init__(self):
        if self.scale not in SUPPORTED_SCALES:
            raise ValueError(f"scale: must be one of {SUPPORTED_SCALES}, got {self.scale!r}")
        if not (isinstance(self.depth, int) and self.depth >= 2):
            raise ValueError(f"depth: must be an integer >= 2, got {self.depth!r}")
        if not (isinstance(self.width, int) and self.width >= 1):
            raise ValueError(f"width: must be a positive integer, got {self.width!r}")

    @property
    def receptive_radius_lr(self) -> int:
        """LR pixels on each side that influence one output pixel (3x3 convs + T + bicubic)."""
        return self.depth + 2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"model config: unknown keys {sorted(unknown)}")
        return cls(**d)


#: Named configurations. "vdsr" is the paper architecture (Kim et al. 2016); "default" is
#: the shipped CPU model (chosen so its documented training run takes ~20 min on 2 cores);
#: "tiny" is for tests.
PRESETS = {
    "vdsr": dict(depth=20, width=64),
    "default": dict(depth=10, width=32),
    "tiny": dict(depth=3, width=8),
}


def preset(name: str, *, scale: int = 2) -> ModelConfig:
    """Return the named :class:`ModelConfig` (``"vdsr"``, ``"default"`` or ``"tiny"``)."""
    if name not in PRESETS:
        raise ValueError(f"preset: unknown {name!r}; choose one of {sorted(PRESETS)}")
    return ModelConfig(scale=scale, **PRESETS[name])


def bilinear_kernel(scale: int) -> np.ndarray:
    """1D bilinear up-sampling kernel of length ``2*scale - scale % 2`` (FCN convention)."""
    size = 2 * scale - scale % 2
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    k = np.arange(size)
    return (1.0 - np.abs(k - center) / factor).astype(np.float32)


def transposed_padding(scale: int) -> tuple[int, int]:
    """Padding of the stride-``scale`` transposed convolution so output pixel ``o`` is
    centred at LR coordinate ``(o + 0.5) / scale - 0.5`` (the half-pixel convention
    of bicubic resizing) and the output is exactly ``scale`` times larger."""
    size = 2 * scale - scale % 2
    lo = (size + scale - 2) // 2
    hi = scale - 2 - lo + size
    return lo, hi


def conv_transpose(x, kernel, scale: int):
    """Stride-``scale`` transposed convolution, NHWC input, HWIO kernel, aligned output."""
    lo, hi = transposed_padding(scale)
    return jax.lax.conv_general_dilated(
        x, kernel, window_strides=(1, 1), padding=[(lo, hi), (lo, hi)],
        lhs_dilation=(scale, scale), dimension_numbers=("NHWC", "HWIO", "NHWC"))


def bicubic_up(x, scale: int):
    """Bicubic up-sampling of an NHWC batch by ``scale`` (half-pixel centres)."""
    n, h, w, c = x.shape
    return jax.image.resize(x, (n, h * scale, w * scale, c), method="bicubic")


class TransposedConv(nnx.Module):
    """Learned stride-``scale`` transposed convolution with bilinear-kernel initialisation."""

    def __init__(self, in_features: int, scale: int, *, rngs: nnx.Rngs):
        k1 = bilinear_kernel(scale)
        k2 = np.outer(k1, k1)[:, :, None, None]  # (K, K, 1, 1)
        # Per-channel weights a_c, small so the residual starts near zero (VDSR starts
        # from bicubic); scaled like a 1x1 He-normal layer.
        a = jax.random.normal(rngs.params(), (1, 1, in_features, 1)) * (0.1 / np.sqrt(in_features))
        self.kernel = nnx.Param(jnp.asarray(k2) * a)
        self.scale = scale

    def __call__(self, x):
        return conv_transpose(x, self.kernel[...], self.scale)


class VDSRTransposed(nnx.Module):
    """VDSR body on the LR grid + transposed-convolution residual + bicubic skip.

    Call as ``model(x, blur_sigma_px, noise_sigma)`` with an NHWC batch (or an (H, W) /
    (N, H, W) array) of normalised LR images and the degradation of each image (scalars
    or (N,) arrays; blur in LR px, noise in the units of ``x``); returns the HR estimate
    of the same rank.
    """

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.config = config
        w = config.width
        init = nnx.initializers.he_normal()  # He et al. 2015, as in VDSR
        n_in = 1 + len(CONDITIONING)
        convs = [nnx.Conv(n_in, w, (3, 3), padding="SAME", kernel_init=init, rngs=rngs)]
        for _ in range(config.depth - 1):
            convs.append(nnx.Conv(w, w, (3, 3), padding="SAME", kernel_init=init, rngs=rngs))
        self.convs = nnx.List(convs) if hasattr(nnx, "List") else convs
        self.up = TransposedConv(w, config.scale, rngs=rngs)

    def __call__(self, x, blur_sigma_px, noise_sigma):
        squeeze = x.ndim
        if x.ndim == 2:
            x = x[None, :, :, None]
        elif x.ndim == 3:
            x = x[..., None]
        c = condition_features(blur_sigma_px, noise_sigma).astype(x.dtype)
        c = jnp.broadcast_to(c[:, None, None, :], x.shape[:3] + (c.shape[-1],))
        h = jnp.concatenate([x, c], axis=-1)
        for conv in self.convs:
            h = jax.nn.relu(conv(h))
        y = bicubic_up(x, self.config.scale) + self.up(h)
        if squeeze == 2:
            return y[0, :, :, 0]
        if squeeze == 3:
            return y[..., 0]
        return y


#: Names of the conditioning inputs, in channel order, and their units.
CONDITIONING = ("blur_sigma_px", "noise_sigma")
CONDITIONING_ENCODING = "c_blur = blur_sigma_px; c_noise = log10(max(noise_sigma, 1e-4)) + 2"
#: Floor of the noise sigma fed to the log encoding (below any noise the network meets).
NOISE_FLOOR = 1e-4


def condition_features(blur_sigma_px, noise_sigma):
    """Encode per-image blur (LR px) and noise (normalised units) as two numbers of order 1.

    Accepts scalars or (N,) arrays; returns an (N, 2) array (N = 1 for scalars).
    """
    b = jnp.atleast_1d(jnp.asarray(blur_sigma_px, jnp.float32))
    n = jnp.atleast_1d(jnp.asarray(noise_sigma, jnp.float32))
    c_noise = jnp.log10(jnp.maximum(n, NOISE_FLOOR)) + 2.0
    b, c_noise = jnp.broadcast_arrays(b, c_noise)
    return jnp.stack([b, c_noise], axis=-1)


def create_model(config: ModelConfig, *, seed: int = 0) -> VDSRTransposed:
    """A freshly initialised model (parameters drawn from ``seed``)."""
    return VDSRTransposed(config, rngs=nnx.Rngs(params=seed))


def parameter_count(config: ModelConfig) -> int:
    """Number of trainable parameters of :class:`VDSRTransposed` with ``config``.

    3x3 convolutions with biases (the first takes the image and the conditioning maps),
    then the bias-free ``K x K`` transposed convolution, ``K = 2 scale - scale % 2``.
    """
    w, s = config.width, config.scale
    k = 2 * s - s % 2
    first = 9 * (1 + len(CONDITIONING)) * w + w
    body = (config.depth - 1) * (9 * w * w + w)
    return first + body + k * k * w


def flops_per_lr_pixel(config: ModelConfig) -> float:
    """Multiply-adds x 2 of one forward pass per LR pixel (convolutions only)."""
    w, s = config.width, config.scale
    k = 2 * s - s % 2
    body = 9 * (1 + len(CONDITIONING)) * w + 9 * w * w * (config.depth - 1)
    return 2.0 * (body + k * k * w)  # T: each LR pixel scatters a KxK kernel per channel
