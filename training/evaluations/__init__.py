"""One module per evaluation kind; ``training.evaluate`` picks one per model and records the result.

Each evaluation takes (context, loaded model, samples, seed) and returns
(values, reference, details, feature network id or None, samples counted)."""

from training.evaluations.classifier import eval_classifier
from training.evaluations.digits import eval_digits, eval_stacked
from training.evaluations.faces import eval_cvaegan, eval_emoji, eval_faces, eval_identity
from training.evaluations.pix2pix import eval_pix2pix
from training.evaluations.toy2d import eval_toy2d

EVALUATIONS = {
    "digits": eval_digits,
    "stacked": eval_stacked,
    "toy2d": eval_toy2d,
    "faces": eval_faces,
    "identity": eval_identity,
    "cvae-gan": eval_cvaegan,
    "emoji": eval_emoji,
    "pix2pix": eval_pix2pix,
    "classifier": eval_classifier,
}
