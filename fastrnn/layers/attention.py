"""Dot-product (Luong) and additive (Bahdanau) attention, Keras 3's
``Attention`` and ``AdditiveAttention``.

Called on ``[query, value]`` or ``[query, value, key]`` (``key`` defaults to
``value``), shapes ``(batch, Tq, dim)``, ``(batch, Tv, dim)``; masks as a
list ``[query_mask, value_mask]``::

    scores  = query @ key^T                         (Attention, "dot")
              [* scale]                              (use_scale=True)
            = csw * sum(tanh([scale *](q_i + k_j)))  (Attention, "concat")
            = sum(scale * tanh(q_i + k_j))           (AdditiveAttention)
    scores  = scores - 1e9 where value_mask (or the causal mask) is False
    weights = softmax(scores, over Tv)   [dropout on the weights in training]
    output  = weights @ value, zero where query_mask is False

``backward(dy)`` returns ``[d_query, d_value]`` (``[..., d_key]`` when a key
was given); ``dy`` may be ``[d_output, d_scores]`` after a call with
``return_attention_scores=True``. The output mask is the query's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import initializers
from .._validation import check_rate
from .base import FloatArray, Layer, Shape, ShapeTuple, as_float_array, check_bool, check_gradient

__all__ = ["Attention", "AdditiveAttention"]

#: What a masked score has subtracted (Keras's value for float32).
_MASKED_SCORE_OFFSET = 1.0e9


def _softmax(scores):
    shifted = scores - np.max(scores, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


class _BaseAttention(Layer):
    supports_masking = True
    _takes_lists = True

    def __init__(self, use_scale: bool, dropout: float = 0.0, seed=None, **kwargs: Any) -> None:
        self.use_scale = check_bool(use_scale, "use_scale")
        self.dropout = check_rate(dropout, "dropout")
        super().__init__(seed=seed, **kwargs)
        self._cache = None

    # -- inputs ------------------------------------------------------------
    def _split(self, inputs, mask):
        if isinstance(inputs, np.ndarray) or not isinstance(inputs, (list, tuple)):
            raise TypeError(
                f"Layer {self.name!r} must be called on [query, value] or [query, value, key]; "
                f"got {type(inputs).__name__}"
            )
        if len(inputs) not in (2, 3):
            raise ValueError(
                f"Layer {self.name!r} must be called on [query, value] or [query, value, key]; "
                f"got a list of {len(inputs)}"
            )
        names = ("query", "value", "key")
        arrays = [
            as_float_array(x, self.dtype, argument=f"inputs[{i}] ({names[i]})", ndim=3)
            for i, x in enumerate(inputs)
        ]
        q, v = arrays[0], arrays[1]
        k = arrays[2] if len(arrays) == 3 else v
        batch, tq, dim = q.shape
        if v.shape[0] != batch or k.shape[0] != batch:
            raise ValueError(
                f"Layer {self.name!r}: query, value and key must share the batch size; got "
                f"shapes {[a.shape for a in arrays]}"
            )
        if k.shape[1] != v.shape[1]:
            raise ValueError(
                f"Layer {self.name!r}: key and value must have the same number of steps; got "
                f"{k.shape} and {v.shape}"
            )
        if k.shape[2] != dim:
            raise ValueError(
                f"Layer {self.name!r}: query and key must have the same last dimension; got "
                f"{q.shape} and {k.shape}"
            )
        q_mask = v_mask = None
        if mask is not None:
            if not isinstance(mask, (list, tuple)) or len(mask) not in (2, 3):
                raise ValueError(f"Layer {self.name!r}: `mask` must be [query_mask, value_mask]")
            q_mask, v_mask = (None if m is None else np.asarray(m, bool) for m in mask[:2])
            if q_mask is not None and q_mask.shape != (batch, tq):
                raise ValueError(
                    f"`mask[0]` (the query mask) must have shape ({batch}, {tq}); "
                    f"got {q_mask.shape}"
                )
            if v_mask is not None and v_mask.shape != (batch, v.shape[1]):
                raise ValueError(
                    f"`mask[1]` (the value mask) must have shape ({batch}, {v.shape[1]}); "
                    f"got {v_mask.shape}"
                )
        return q, v, k, len(arrays) == 3, q_mask, v_mask

    # -- calling -----------------------------------------------------------
    def __call__(
        self,
        inputs,
        training: bool = False,
        mask=None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ):
        q, v, k, has_key, q_mask, v_mask = self._split(inputs, mask)
        if not self.built:
            self.build([q.shape, v.shape])
        scores, score_cache = self._scores(q, k)
        allowed = None if v_mask is None else v_mask[:, None, :]
        if use_causal_mask:
            causal = np.tril(np.ones(scores.shape[1:], bool))[None]
            allowed = causal if allowed is None else allowed & causal
        if allowed is not None:
            scores = np.where(allowed, scores, scores - _MASKED_SCORE_OFFSET)
        weights = _softmax(scores).astype(self.dtype, copy=False)
        keep = None
        if training and self.dropout > 0:
            keep = (self._rng.random(weights.shape) >= self.dropout) / (1 - self.dropout)
            weights_used = weights * keep.astype(self.dtype)
        else:
            weights_used = weights
        output = weights_used @ v
        if q_mask is not None:
            output = np.where(q_mask[:, :, None], output, 0).astype(self.dtype, copy=False)
        self._cache = (
            (q, v, k, has_key, q_mask, weights, weights_used, keep, score_cache)
            if training
            else None
        )
        return (output, weights_used) if return_attention_scores else output

    def backward(self, dy) -> list[FloatArray]:
        q, v, k, has_key, q_mask, weights, weights_used, keep, score_cache = (
            self._require_training_call()
        )
        d_scores_out = None
        if isinstance(dy, (list, tuple)):
            if len(dy) != 2:
                raise ValueError(
                    f"Layer {self.name!r}: `dy` must be d_output or [d_output, d_scores]"
                )
            dy, d_scores_out = dy
        d_out = check_gradient(dy, (q.shape[0], q.shape[1], v.shape[2]), dtype=self.dtype)
        if q_mask is not None:
            d_out = d_out * q_mask[:, :, None]
        d_used = d_out @ np.swapaxes(v, 1, 2)
        if d_scores_out is not None:
            d_used = d_used + check_gradient(d_scores_out, weights.shape, "dy[1]", self.dtype)
        dv = np.swapaxes(weights_used, 1, 2) @ d_out
        d_weights = d_used if keep is None else d_used * keep
        d_scores = weights * (d_weights - np.sum(d_weights * weights, axis=-1, keepdims=True))
        dq, dk, self.gradients = self._scores_backward(q, k, d_scores, score_cache)
        if has_key:
            return [dq, dv, dk]
        return [dq, dv + dk]

    def compute_mask(self, inputs, mask=None):
        if mask is None or mask[0] is None:
            return None
        return np.asarray(mask[0], bool)

    def _call_output_shape(
        self, input_shape: list[Shape], return_attention_scores: bool = False, **_: Any
    ) -> ShapeTuple | list[ShapeTuple]:
        """The output shape of a symbolic call with these keyword arguments (the
        scores too), after checking that the inputs' shapes fit each other."""
        if (
            not isinstance(input_shape, list)
            or len(input_shape) not in (2, 3)
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise TypeError(
                f"Layer {self.name!r} must be called on a list [query, value] or "
                f"[query, value, key]; got {input_shape!r}"
            )
        shapes = [tuple(s) for s in input_shape]
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) == 3 else value
        if any(len(s) != 3 for s in shapes):
            raise ValueError(
                f"Layer {self.name!r} takes 3-D query, value (and key), (batch, steps, dim); "
                f"got shapes {shapes}"
            )

        def differ(a, b):
            return a is not None and b is not None and a != b

        if differ(value[1], key[1]):
            raise ValueError(
                f"Layer {self.name!r}: value and key must have the same steps; got {value} "
                f"and {key}"
            )
        if differ(query[-1], key[-1]):
            raise ValueError(
                f"Layer {self.name!r}: query and key must have the same last dimension; got "
                f"{query} and {key}"
            )
        out = self.compute_output_shape(shapes)
        if return_attention_scores:
            return [out, (query[0], query[1], value[1])]
        return out

    def compute_output_shape(self, input_shape: list[Shape]) -> ShapeTuple:
        query, value = tuple(input_shape[0]), tuple(input_shape[1])
        return (*query[:-1], value[-1])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "dropout": self.dropout,
            "seed": self.seed,
        }


class Attention(_BaseAttention):
    """Dot-product attention (Luong-style), ``keras.layers.Attention``.

    Parameters
    ----------
    use_scale : bool, default False
        Multiply the scores by a learned scalar ``scale`` (initialized to 1).
    score_mode : {"dot", "concat"}, default "dot"
        "concat": ``concat_score_weight * sum(tanh(q_i + k_j))`` (with
        ``use_scale``, the scale inside the tanh).
    dropout : float, default 0
        Dropout on the attention weights, in training only.
    seed : int, optional
    """

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed=None,
        **kwargs: Any,
    ) -> None:
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"`score_mode` must be one of 'dot', 'concat'; got {score_mode!r}")
        self.score_mode = score_mode
        super().__init__(use_scale, dropout, seed, **kwargs)
        if not (use_scale or score_mode == "concat"):
            self.built = True

    def build(self, input_shape=None) -> None:
        if self.built:
            return
        if self.use_scale:
            self._add_weight("scale", (), initializers.get("ones"))
        if self.score_mode == "concat":
            self._add_weight("concat_score_weight", (), initializers.get("ones"))
        self.built = True

    def _scale(self):
        return self.scale if self.use_scale else None

    def _scores(self, q, k):
        scale = self._scale()
        if self.score_mode == "dot":
            raw = q @ np.swapaxes(k, 1, 2)
            return (raw if scale is None else raw * scale), raw
        summed = q[:, :, None, :] + k[:, None, :, :]
        e = np.tanh(summed if scale is None else scale * summed)
        return self.concat_score_weight * np.sum(e, axis=-1), (summed, e)

    def _scores_backward(self, q, k, d_scores, cache):
        scale = self._scale()
        grads = []
        if self.score_mode == "dot":
            raw = cache
            if scale is not None:
                grads.append(np.asarray(np.sum(d_scores * raw), self.dtype))
                d_scores = d_scores * scale
            dq = d_scores @ k
            dk = np.swapaxes(d_scores, 1, 2) @ q
            return dq, dk, grads
        summed, e = cache
        d_pre = (self.concat_score_weight * d_scores)[..., None] * (1 - e * e)
        if scale is not None:
            grads.append(np.asarray(np.sum(d_pre * summed), self.dtype))
            d_pre = d_pre * scale
        grads.append(np.asarray(np.sum(d_scores * np.sum(e, axis=-1)), self.dtype))
        return d_pre.sum(axis=2), d_pre.sum(axis=1), grads

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "score_mode": self.score_mode}


class AdditiveAttention(_BaseAttention):
    """Additive attention (Bahdanau-style), ``keras.layers.AdditiveAttention``:
    ``scores_ij = sum(scale * tanh(q_i + k_j))`` with a learned ``scale`` of
    shape ``(dim,)`` (glorot-uniform) when ``use_scale`` (default True)."""

    _size_arguments = ()

    def __init__(
        self, use_scale: bool = True, dropout: float = 0.0, seed=None, **kwargs: Any
    ) -> None:
        super().__init__(use_scale, dropout, seed, **kwargs)
        if not use_scale:
            self.built = True

    def build(self, input_shape=None) -> None:
        if self.built:
            return
        if input_shape is None:
            raise TypeError(
                f"Layer {self.name!r}: build needs the input shapes [query, value] to size "
                f"its scale"
            )
        dim = tuple(input_shape[0])[-1]
        self._add_weight("scale", (dim,), initializers.get("glorot_uniform"))
        self.built = True

    def _scores(self, q, k):
        e = np.tanh(q[:, :, None, :] + k[:, None, :, :])
        scale = self.scale if self.use_scale else 1.0
        return np.sum(scale * e, axis=-1), e

    def _scores_backward(self, q, k, d_scores, e):
        scale = self.scale if self.use_scale else 1.0
        grads = []
        if self.use_scale:
            grads.append(np.einsum("bij,bijd->d", d_scores, e).astype(self.dtype))
        d_pre = d_scores[..., None] * scale * (1 - e * e)
        return d_pre.sum(axis=2), d_pre.sum(axis=1), grads
