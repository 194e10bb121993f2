"""Every recipe the gallery is trained with: one entry per published model id.

A recipe is a family plus the settings that differ from its config's defaults; any setting
can be overridden on the command line (``python -m training mnist-dcgan-ns --steps 500``).
Settings here are the reference ones; the manifest records the exact command each shipped
checkpoint was made with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from training.families.classifier import ClassifierFamily
from training.families.cvaegan import CVAEGANFamily
from training.families.gan import GANFamily
from training.families.pix2pix import Pix2PixFamily
from training.families.toy2d import Toy2DFamily
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
    ablation_of: str | None = None  # the recipe of the full model this one takes a part out of


_MNIST = dict(dataset="mnist", image_size=28, channels=1, z_dim=64, g_width=64, d_width=64, batch_size=64)
# The four losses share one generator: DCGAN with a 3x3 conv after each stage (g_refine). In 3,000-step
# pilots it lifted the Inception-style score from 5.1 to 6.1 and halved the Frechet distance.
_MNIST_DCGAN = dict(_MNIST, g_refine=1)

# Stacked MNIST: the MNIST DCGAN with three channels. Its KL to the uniform 1,000 modes is almost all
# in the per-channel digit shares (blurry digits read as 3), so it needs the refined generator.
_STACKED = dict(_MNIST_DCGAN, dataset="stacked-mnist", channels=3, z_dim=100)
# With a full-width D the plain DCGAN keeps all 1,000 modes (KL 0.059): no collapse to show. The
# Unrolled GAN experiment that PacGAN repeats makes D a quarter of G's width; then the plain run
# collapses and packing is the one difference between the two runs.
_STACKED_SMALL_D = dict(_STACKED, d_width=16)

# Colour DCGAN at 64 px, 32 filters (Radford et al. use 64): a quarter of the compute, so a run fits
# 2 CPU cores; EMA warm-up so the published generator holds no trace of the random init.
_COLOUR64 = dict(
    image_size=64, channels=3, z_dim=100, g_width=32, d_width=32, batch_size=64, steps=6000, ema_warmup=True
)
_CELEB64 = dict(dataset="faces-celeb24", image_size=64, channels=3, flip=True, batch_size=64, steps=6000)
# pix2pix: a 256 px U-Net at base width 32 has 13.6M parameters; float16 files keep it under 30 MB.
# No weight average, as in the paper: on facades the EMA (beta 0.999) of a 16-filter U-Net measured
# sharpness 0.51 where the live generator it averages measured 0.65 (20,000 steps).
_FACADES = dict(
    dataset="facades", direction="BtoA", image_size=256, g_width=32, half_weights=True, steps=40000, ema_beta=0.0
)
_EDGES = dict(
    dataset="faces-celeb24", edges=True, image_size=128, g_width=32, half_weights=True, batch_size=4, steps=10000
)
# 2D toys, ring of 8 (radius 1, sigma 0.01) and grid of 25 (spacing 2, sigma 0.05): the same MLPs
# (PacGAN's shape, narrower) for the plain and the stabilised runs, batch 500, z in R^2.
_TOY = dict(z_dim=2, g_hidden=128, g_depth=3, d_hidden=128, d_depth=3, batch_size=500)
# plain: non-saturating GAN at a high learning rate, nothing else: the generator hops between modes
_TOY_PLAIN = dict(_TOY, loss="ns", lr_g=1e-2, lr_d=1e-2, steps=3000)
# ring: PacGAN (pack 4) on the non-saturating loss, 2 D steps, TTUR, linear decay over the last 40%
_RING_STABLE = dict(_TOY, loss="ns", pack=4, n_critic=2, lr_g=4e-3, lr_d=8e-3, lr_final=0.01, lr_decay_from=0.6)
# grid: WGAN-GP (a light penalty suits 2D), 3 critic steps, linear decay over the second half
_GRID_STABLE = dict(
    _TOY, loss="wgan-gp", gp_weight=0.1, n_critic=3, beta2=0.9, lr_g=2e-3, lr_d=2e-3, lr_final=0.01, lr_decay_from=0.5
)

RECIPES: dict[str, Recipe] = {
    "digits-classifier": Recipe(
        ClassifierFamily,
        "Digit classifier (MNIST), the evaluator",
        "CNN classifier on MNIST; its features are the evaluation space for every digit model",
        "classifier",
        "CNN classifier",
        dict(dataset="mnist", batch_size=128, steps=3000, ema_beta=0.999, sample_every=0),
        "A small VGG-style CNN trained on the MNIST training set only. The gallery's digit metrics (Frechet "
        "distance, KID, precision/recall, Inception-style score) are measured in its features.",
    ),
    "fashion-classifier": Recipe(
        ClassifierFamily,
        "Clothing classifier (Fashion-MNIST), the evaluator",
        "CNN classifier on Fashion-MNIST, for the conditional Fashion-MNIST model's accuracy",
        "classifier",
        "CNN classifier",
        dict(dataset="fashion", batch_size=128, steps=6000, base_width=48, ema_beta=0.999, sample_every=0, shift=1),
        "A small CNN trained on the Fashion-MNIST training set only, used to check the class of generated clothes.",
    ),
    "faces-classifier": Recipe(
        ClassifierFamily,
        "Face identity classifier (faces-celeb24), the evaluator",
        "CNN identity classifier on faces-celeb24 at 64 px (4 of 5 images per person; the 5th held out), "
        "each image flipped, rotated, zoomed, shifted and colour-jittered on its own",
        "classifier",
        "CNN classifier",
        dict(
            dataset="faces-celeb24",
            image_size=64,
            channels=3,
            stem_stride=2,
            blocks=3,
            base_width=64,
            feature_dim=256,
            flip=True,
            flip_average=True,
            shift=4,
            degrees=12.0,
            zoom=0.12,
            jitter=0.2,
            mixup=0.2,
            cutmix=1.0,
            lr=2e-3,
            warmup=200,
            ema_beta=0.998,
            batch_size=64,
            steps=6000,
            sample_every=0,
            label_smoothing=0.1,
        ),
        "Recognises the 24 identities; trained separately from the classifier inside CVAE-GAN, so it judges "
        "generated and swapped faces independently. Non-commercial research use only.",
    ),
    "mnist-dcgan-ns": Recipe(
        GANFamily,
        "DCGAN, non-saturating loss (MNIST)",
        "DCGAN on MNIST with the non-saturating GAN loss",
        "sample",
        "DCGAN",
        dict(_MNIST_DCGAN, loss="ns", steps=20000),
        "The DCGAN of Radford et al. trained with the non-saturating loss of Goodfellow et al.; one of four "
        "losses on the same architecture.",
    ),
    "mnist-dcgan-lsgan": Recipe(
        GANFamily,
        "DCGAN, least-squares loss (MNIST)",
        "DCGAN on MNIST with the LSGAN loss",
        "sample",
        "DCGAN / LSGAN",
        dict(_MNIST_DCGAN, loss="lsgan", steps=20000),
        "The same DCGAN trained with the least-squares loss of Mao et al. (2017).",
    ),
    "mnist-wgan-clip": Recipe(
        GANFamily,
        "WGAN, weight clipping (MNIST)",
        "DCGAN on MNIST as a WGAN: no sigmoid, weight clipping 0.01, RMSProp, 5 critic steps",
        "sample",
        "DCGAN / WGAN",
        # RMSProp at 2e-4, not the paper's 5e-5: at 3,000 steps 2e-4 scored IS 5.18 / FD 14.7 against
        # 4.57 / 19.2, and over 13,000 steps with the decay IS 5.70 / FD 10.5 against 5.55 / 12.9
        dict(
            _MNIST_DCGAN,
            loss="wgan",
            optimizer="rmsprop",
            lr_g=2e-4,
            lr_d=2e-4,
            clip=0.01,
            n_critic=5,
            steps=13000,
            lr_final=0.1,
            lr_decay_from=0.5,
        ),
        "The same DCGAN as a Wasserstein GAN (Arjovsky et al. 2017): a critic without sigmoid, weights clipped "
        "to [-0.01, 0.01], RMSProp, five critic steps per generator step. The rate is 2e-4 rather than the "
        "paper's 5e-5, which learned more slowly here.",
    ),
    "mnist-wgan-gp": Recipe(
        GANFamily,
        "WGAN-GP (MNIST)",
        "DCGAN on MNIST as a WGAN with gradient penalty (no batch norm in the critic)",
        "sample",
        "DCGAN / WGAN-GP",
        dict(
            _MNIST_DCGAN,
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
        "class-conditional DCGAN on MNIST (label embedding in G, projection in D, mode seeking)",
        "sample",
        "CGAN",
        dict(_MNIST, conditional=True, loss="ns", mode_seeking=0.2, steps=16000),
        "A class-conditional GAN (Mirza & Osindero 2014): pick the digit, the seed picks the style. A mode "
        "seeking term (MSGAN, Mao et al. 2019) keeps the seed in use: without it each digit came out as one image.",
    ),
    "fashion-cgan": Recipe(
        GANFamily,
        "Conditional DCGAN (Fashion-MNIST)",
        "class-conditional DCGAN on Fashion-MNIST",
        "sample",
        "CGAN",
        dict(_MNIST, dataset="fashion", conditional=True, loss="ns", mode_seeking=0.2, steps=40000),
        "A class-conditional GAN on Fashion-MNIST's ten kinds of clothing, with the same mode seeking term.",
    ),
    "celeb24-dcgan": Recipe(
        GANFamily,
        "DCGAN 64 px (faces-celeb24)",
        "DCGAN 64 px (nz=100, 32 filters) on faces-celeb24",
        "sample",
        "DCGAN",
        # 1,808 training faces: colour DiffAugment on D's inputs gave a small gain in FD, KID and
        # coverage (translation and cutout hurt), over 12,000 steps with the rates decaying after half;
        # MSGAN's mode seeking term on top traded precision for recall and lowered FD (README)
        dict(
            _COLOUR64,
            dataset="faces-celeb24",
            flip=True,
            diff_augment="color",
            mode_seeking=0.5,
            steps=12000,
            lr_final=0.1,
            lr_decay_from=0.5,
        ),
        "The DCGAN of Radford et al. at 64 px, with 32 base filters (half the paper's), on aligned celebrity "
        "faces; D sees real and generated faces through the same random colour changes (DiffAugment), and "
        "a mode seeking term (MSGAN) keeps G's faces apart for different z. Non-commercial research use only.",
    ),
    "openmoji-dcgan": Recipe(
        GANFamily,
        "DCGAN 64 px (OpenMoji)",
        "DCGAN 64 px (nz=100, 32 filters) on OpenMoji emoji",
        "sample",
        "DCGAN",
        dict(_COLOUR64, dataset="openmoji-64"),
        "DCGAN at 64 px, with 32 base filters, on 1,758 OpenMoji emoji. Images are CC BY-SA 4.0 like the data.",
    ),
    "stacked-mnist-dcgan-plain": Recipe(
        GANFamily,
        "Stacked MNIST, plain DCGAN",
        "DCGAN on Stacked MNIST (1,000 modes), no stabilisation",
        "sample",
        "DCGAN",
        dict(_STACKED, steps=20000),
        "The MNIST DCGAN on Stacked MNIST, no stabilisation: three digits as colour channels give 1,000 modes.",
    ),
    "stacked-mnist-dcgan-stable": Recipe(
        GANFamily,
        "Stacked MNIST, PacGAN-stabilised DCGAN",
        "DCGAN on Stacked MNIST with PacGAN packing (pack 2)",
        "sample",
        "DCGAN / PacGAN",
        dict(_STACKED, pack=2, steps=20000),
        "The same DCGAN with PacGAN packing (Lin et al. 2018), which lets the discriminator see mode collapse.",
    ),
    "stacked-mnist-dcgan-plain-small-d": Recipe(
        GANFamily,
        "Stacked MNIST, plain DCGAN, quarter-width D",
        "DCGAN on Stacked MNIST with a discriminator a quarter of G's width, no stabilisation",
        "sample",
        "DCGAN",
        dict(_STACKED_SMALL_D, steps=20000),
        "The Stacked MNIST DCGAN against a discriminator of a quarter of its width (16 base filters against "
        "64), as in the Unrolled GAN and PacGAN experiments: without stabilisation it collapses.",
    ),
    "stacked-mnist-dcgan-stable-small-d": Recipe(
        GANFamily,
        "Stacked MNIST, PacGAN-stabilised DCGAN, quarter-width D",
        "DCGAN on Stacked MNIST with a quarter-width discriminator and PacGAN packing (pack 2)",
        "sample",
        "DCGAN / PacGAN",
        dict(_STACKED_SMALL_D, pack=2, steps=20000),
        "The same quarter-width discriminator judging pairs of samples (PacGAN packing): the one "
        "difference from the plain run beside it, and it keeps the modes that run loses.",
    ),
    "celeb24-cvaegan": Recipe(
        CVAEGANFamily,
        "CVAE-GAN (faces-celeb24)",
        "CVAE-GAN 64 px: encoder, conditional generator, identity classifier and discriminator",
        "cvae-gan",
        "CVAE-GAN",
        dict(_CELEB64),
        "CVAE-GAN (Bao et al. 2017): an encoder maps a face and its identity to a latent code, a class-conditional "
        "generator decodes it, and an identity classifier and a discriminator train the generator by mean feature "
        "matching (asymmetric training) plus pairwise feature matching of reconstructions. Encode a face, then "
        "decode the same code under another identity. Non-commercial research use only.",
    ),
    "celeb24-cvae": Recipe(
        CVAEGANFamily,
        "CVAE ablation (faces-celeb24)",
        "CVAE-GAN with the classifier and discriminator switched off: a plain conditional VAE",
        "cvae-gan",
        "CVAE",
        dict(_CELEB64, discriminator=False, classifier=False),
        "The same encoder and generator as CVAE-GAN trained only with the KL term and pixel reconstruction: a plain "
        "conditional VAE. Identities and poses come out right but blurry. Non-commercial research use only.",
        ablation_of="celeb24-cvaegan",
    ),
    "celeb24-cgan": Recipe(
        CVAEGANFamily,
        "CGAN ablation (faces-celeb24)",
        "CVAE-GAN with the encoder and classifier switched off: a conditional GAN (projection discriminator)",
        "sample",
        "CGAN",
        dict(_CELEB64, encoder=False, classifier=False, d_conditional=True, adv_weight=1.0, gd_weight=0.0),
        "The same generator trained as a plain class-conditional GAN (non-saturating loss, projection "
        "discriminator), without encoder or classifier: sharp faces, but the identity can drift. Non-commercial "
        "research use only.",
        ablation_of="celeb24-cvaegan",
    ),
    "facades-pix2pix": Recipe(
        Pix2PixFamily,
        "pix2pix, label map to facade (CMP Facades)",
        "pix2pix 256 px: U-Net generator + 70x70 PatchGAN, cGAN + 100 x L1, label map -> photo",
        "pix2pix",
        "pix2pix",
        dict(_FACADES),
        "pix2pix (Isola et al. 2017): a U-Net translates an architectural label map into a facade photo, trained "
        "with a 70x70 PatchGAN discriminator plus an L1 term (lambda 100). Dropout is the only noise; keep it on "
        "to draw different facades for the same labels.",
    ),
    "facades-unet-l1": Recipe(
        Pix2PixFamily,
        "U-Net with L1 only, label map to facade (ablation)",
        "the pix2pix U-Net trained with L1 alone (no discriminator)",
        "pix2pix",
        "U-Net (L1)",
        dict(_FACADES, gan_weight=0.0),
        "The same U-Net trained with the L1 loss alone: the pix2pix paper's ablation. Outputs are plausible but "
        "blurry, the average of what the labels allow.",
        ablation_of="facades-pix2pix",
    ),
    "celeb24-pix2pix-edges": Recipe(
        Pix2PixFamily,
        "pix2pix, edges to face (faces-celeb24)",
        "pix2pix 128 px: Canny edges -> colour face",
        "pix2pix",
        "pix2pix",
        dict(_EDGES),
        "pix2pix translating Canny edge maps of faces into colour faces at 128 px. Draw a sketch (it is inverted "
        "to white-on-black edges) or upload a face to extract its edges. Non-commercial research use only.",
    ),
    "celeb24-unet-l1-edges": Recipe(
        Pix2PixFamily,
        "U-Net with L1 only, edges to face (ablation)",
        "the pix2pix U-Net on edges -> face trained with L1 alone",
        "pix2pix",
        "U-Net (L1)",
        dict(_EDGES, gan_weight=0.0),
        "The same U-Net trained with L1 alone on edges -> face: colours are averaged, so faces come out flat and "
        "blurry. Non-commercial research use only.",
        ablation_of="celeb24-pix2pix-edges",
    ),
    "ring-gan-plain": Recipe(
        Toy2DFamily,
        "Plain GAN on a ring of 8 Gaussians (mode collapse)",
        "2D MLP GAN, non-saturating loss at lr 1e-2, no stabilisation, on a ring of 8 Gaussians: collapses",
        "toy2d",
        "MLP GAN",
        dict(_TOY_PLAIN, mixture="ring"),
        "A small MLP generator (z in R^2) and discriminator trained with the non-saturating GAN loss at a high "
        "learning rate, and nothing else, on 8 Gaussians around a circle of radius 1 (sigma 0.01): the setting of "
        "VEEGAN and PacGAN. It collapses: most seeds end on one or two modes. Replay the trajectory to watch the "
        "generator hop from mode to mode as the discriminator chases it.",
    ),
    "ring-gan-stable": Recipe(
        Toy2DFamily,
        "PacGAN on a ring of 8 Gaussians (all modes)",
        "the same 2D MLP GAN with PacGAN packing (pack 4), 2 D steps and a decaying learning rate: all 8 modes",
        "toy2d",
        "MLP GAN / PacGAN",
        dict(_RING_STABLE, mixture="ring", steps=4000),
        "The same networks and loss with PacGAN packing (Lin et al. 2018): the discriminator judges four samples "
        "jointly, so a generator that puts them on one mode is caught. Two discriminator steps per generator step, "
        "a faster discriminator (lr 8e-3 against 4e-3) and a linear decay of both rates over the last 40% of the "
        "run. Over five seeds it finds all 8 modes with about 96% of samples within three sigma of a centre.",
    ),
    "grid-gan-plain": Recipe(
        Toy2DFamily,
        "Plain GAN on a grid of 25 Gaussians (mode collapse)",
        "2D MLP GAN, non-saturating loss at lr 1e-2, no stabilisation, on a 5x5 grid of Gaussians: misses modes",
        "toy2d",
        "MLP GAN",
        dict(_TOY_PLAIN, mixture="grid"),
        "The plain non-saturating GAN of ring-gan-plain on 25 Gaussians on a 5x5 grid (spacing 2, sigma 0.05): "
        "the generator never settles, sweeping a few modes at a time and missing the rest.",
    ),
    "grid-gan-stable": Recipe(
        Toy2DFamily,
        "WGAN-GP on a grid of 25 Gaussians (all modes)",
        "the same 2D MLPs as WGAN-GP (penalty 0.1, 3 critic steps, decaying learning rate): all 25 modes",
        "toy2d",
        "MLP GAN / WGAN-GP",
        dict(_GRID_STABLE, mixture="grid", steps=5000),
        "The same networks trained as a Wasserstein GAN with gradient penalty (Gulrajani et al. 2017; a light "
        "penalty of 0.1 suits the 2D critic), three critic steps per generator step and a linear decay of the "
        "learning rates over the second half of the run. Over five seeds it covers all 25 modes with about 92% of "
        "samples within three sigma of a centre.",
    ),
}


def families() -> dict[str, type[Family]]:
    """Family class name -> class, for rebuilding a run when publishing."""
    return {r.family.__name__: r.family for r in RECIPES.values()}
