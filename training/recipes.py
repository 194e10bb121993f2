"""Every recipe the gallery is trained with: one entry per published model id.

A recipe is a family plus the settings that differ from its config's defaults; any setting
can be overridden on the command line (``python -m training mnist-dcgan-ns --steps 500``).
Settings here are the reference ones; the manifest records the exact command each shipped
checkpoint was made with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from training.families.gan import GANFamily
from training.loop import Family


@dataclass(frozen=True)
class Recipe:
    family: type[Family]
    title: str  # shown in the gallery
    summary: str  # one line for --list
    task: str  # manifest task: sample | cvae-gan | pix2pix | toy2d | classifier
    architecture: str  # family name shown to users
    settings: dict = field(default_factory=dict)
    description: str = ""


_MNIST = dict(dataset="mnist", image_size=28, channels=1, z_dim=64, g_width=64, d_width=64, batch_size=64)

RECIPES: dict[str, Recipe] = {
    "mnist-dcgan-ns": Recipe(
        GANFamily,
        "DCGAN, non-saturating loss (MNIST)",
        "DCGAN on MNIST with the non-saturating GAN loss",
        "sample",
        "DCGAN",
        dict(_MNIST, loss="ns", steps=6000),
        "The DCGAN of Radford et al. trained with the non-saturating loss of Goodfellow et al.; one of four "
        "losses on the same architecture.",
    ),
    "mnist-dcgan-lsgan": Recipe(
        GANFamily,
        "DCGAN, least-squares loss (MNIST)",
        "DCGAN on MNIST with the LSGAN loss",
        "sample",
        "DCGAN / LSGAN",
        dict(_MNIST, loss="lsgan", steps=6000),
        "The same DCGAN trained with the least-squares loss of Mao et al. (2017).",
    ),
    "mnist-wgan-clip": Recipe(
        GANFamily,
        "WGAN, weight clipping (MNIST)",
        "DCGAN on MNIST as a WGAN: no sigmoid, weight clipping 0.01, RMSProp, 5 critic steps",
        "sample",
        "DCGAN / WGAN",
        dict(_MNIST, loss="wgan", optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, clip=0.01, n_critic=5, steps=6000),
        "The same DCGAN as a Wasserstein GAN (Arjovsky et al. 2017): a critic without sigmoid, weights clipped "
        "to [-0.01, 0.01], RMSProp at 5e-5, five critic steps per generator step.",
    ),
    "mnist-wgan-gp": Recipe(
        GANFamily,
        "WGAN-GP (MNIST)",
        "DCGAN on MNIST as a WGAN with gradient penalty (no batch norm in the critic)",
        "sample",
        "DCGAN / WGAN-GP",
        dict(
            _MNIST,
            loss="wgan-gp",
            gp_weight=10.0,
            d_batch_norm=False,
            n_critic=5,
            lr_g=1e-4,
            lr_d=1e-4,
            beta1=0.0,
            beta2=0.9,
            steps=6000,
        ),
        "The same DCGAN as WGAN-GP (Gulrajani et al. 2017): gradient penalty 10, no batch norm in the critic, "
        "Adam(0, 0.9), five critic steps.",
    ),
    "mnist-cgan": Recipe(
        GANFamily,
        "Conditional DCGAN (MNIST)",
        "class-conditional DCGAN on MNIST (label embedding in G, projection in D)",
        "sample",
        "CGAN",
        dict(_MNIST, conditional=True, loss="ns", steps=6000),
        "A class-conditional GAN (Mirza & Osindero 2014): pick the digit, the seed picks the style.",
    ),
    "fashion-cgan": Recipe(
        GANFamily,
        "Conditional DCGAN (Fashion-MNIST)",
        "class-conditional DCGAN on Fashion-MNIST",
        "sample",
        "CGAN",
        dict(_MNIST, dataset="fashion", conditional=True, loss="ns", steps=8000),
        "A class-conditional GAN on Fashion-MNIST's ten kinds of clothing.",
    ),
    "celeb24-dcgan": Recipe(
        GANFamily,
        "DCGAN 64 px (faces-celeb24)",
        "DCGAN 64 px (nz=100, 64 filters) on faces-celeb24",
        "sample",
        "DCGAN",
        dict(dataset="faces-celeb24", image_size=64, channels=3, z_dim=100, flip=True, batch_size=128, steps=10000),
        "The DCGAN of Radford et al. at 64 px on aligned celebrity faces. Non-commercial research use only.",
    ),
    "openmoji-dcgan": Recipe(
        GANFamily,
        "DCGAN 64 px (OpenMoji)",
        "DCGAN 64 px on OpenMoji emoji",
        "sample",
        "DCGAN",
        dict(dataset="openmoji-64", image_size=64, channels=3, z_dim=100, batch_size=128, steps=10000),
        "DCGAN at 64 px on 1,758 OpenMoji emoji. Images are CC BY-SA 4.0 like the data.",
    ),
    "stacked-mnist-dcgan-plain": Recipe(
        GANFamily,
        "Stacked MNIST, plain DCGAN",
        "DCGAN on Stacked MNIST (1,000 modes), no stabilisation",
        "sample",
        "DCGAN",
        dict(dataset="stacked-mnist", image_size=28, channels=3, z_dim=100, g_width=32, d_width=16, steps=4000),
        "A deliberately small plain DCGAN on Stacked MNIST: three digits as colour channels give 1,000 modes.",
    ),
    "stacked-mnist-dcgan-stable": Recipe(
        GANFamily,
        "Stacked MNIST, PacGAN-stabilised DCGAN",
        "DCGAN on Stacked MNIST with PacGAN packing (pack 2)",
        "sample",
        "DCGAN / PacGAN",
        dict(dataset="stacked-mnist", image_size=28, channels=3, z_dim=100, g_width=32, d_width=16, pack=2, steps=4000),
        "The same small DCGAN with PacGAN packing (Lin et al. 2018), which lets the discriminator see mode collapse.",
    ),
}


def families() -> dict[str, type[Family]]:
    """Family class name -> class, for rebuilding a run when publishing."""
    return {r.family.__name__: r.family for r in RECIPES.values()}
