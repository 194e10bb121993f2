"""Every network the gallery serves, and the one registry from architecture name to class."""

from .classifier import Classifier
from .cvaegan import CVAEEncoder
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .pix2pix import PatchDiscriminator, UNetGenerator
from .toy2d import MLPDiscriminator, MLPGenerator

ARCHITECTURES = {
    "dcgan_generator": DCGANGenerator,
    "dcgan_discriminator": DCGANDiscriminator,
    "mlp_generator": MLPGenerator,
    "mlp_discriminator": MLPDiscriminator,
    "cvae_encoder": CVAEEncoder,
    "classifier": Classifier,
    "unet_generator": UNetGenerator,
    "patch_discriminator": PatchDiscriminator,
}

__all__ = ["ARCHITECTURES", *(cls.__name__ for cls in ARCHITECTURES.values())]
