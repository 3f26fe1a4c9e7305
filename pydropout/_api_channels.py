"""The channel dropouts of :class:`pydropout._api.Api` (``dropout1d/2d/3d``), made per rank
from one docstring and one table of annotations; each calls ``Api._channel``."""

from __future__ import annotations

from typing import Callable

from ._api_blocks import Array
from ._twins import annotated

_CHANNEL_DOC = """Channel dropout ({k}-d): zero whole channels with probability ``p``.

    Like ``torch.nn.functional.dropout{k}d``: ``x`` is ``(N, C, {sp})`` or, without a
    batch, ``(C, {sp})``; with ``channels_last=True`` ``(N, {sp}, C)`` or ``({sp}, C)``
    (Keras SpatialDropout, MLX). The mask is drawn over the noise shape ``(N, C, {ones})``
    (``(C, {ones})`` unbatched), consuming ``N * C`` words, so each channel is kept and
    scaled by ``dtype(1 / (1 - p))`` or zeroed as a whole. An unbatched input gives the
    result of the batched one with ``N = 1``. Any other rank raises ValueError (torch
    warns instead, and reads a 3-D input of ``dropout2d`` as ``(N, C, L)``).

    This is ``pydropout.dropout(x, p, training, inplace, noise_shape=...)``; evaluation
    returns ``x`` itself. The backward is ``dropout_backward(grad, mask, p,
    noise_shape=(N, C, {ones}))`` or use :class:`Dropout{k}d`.
    """


_CHANNEL_PARAMETERS = {
    "x": "ArrayLike",
    "p": "float",
    "training": "bool",
    "inplace": "bool",
    "channels_last": "bool",
    "generator": "GeneratorLike",
    "out": "Optional[Array]",
}


def channel_op(spatial: int, sp: str, ones: str) -> Callable[..., Array]:
    """``Api.dropout{spatial}d``: the channel dropout over ``spatial`` dimensions."""
    name = f"dropout{spatial}d"

    def op(
        self,
        x,
        p=0.5,
        training=True,
        inplace=False,
        *,
        channels_last=False,
        generator=None,
        out=None,
    ):
        return self._channel(x, p, training, inplace, spatial, channels_last, generator, out, name)

    doc = _CHANNEL_DOC.format(k=spatial, sp=sp, ones=ones)
    return annotated(op, "Api", name, doc, _CHANNEL_PARAMETERS, "Array")
