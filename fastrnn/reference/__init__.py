"""The NumPy reference backend: the kernel contract, written to be read.

Every backend (this one, ``fastrnn.numba_kernels``, the optional Cython
extension) is a module exposing the same six functions with the same
signatures::

    simple_rnn_forward, simple_rnn_backward
    lstm_forward,       lstm_backward
    gru_forward,        gru_backward

The contract
------------
All float arrays are C-contiguous and share one dtype (float32 or float64);
``mask`` is a C-contiguous ``bool`` array. Kernels *fill* preallocated
output arrays and return None; they never allocate what they return and
never read an output array before writing it. Checking, casting and
allocating happen once, in Python, in :mod:`fastrnn.ops`.

Shapes (``B`` batch, ``T`` timesteps, ``D`` input features, ``H`` units,
``G`` gates: 1 for SimpleRNN, 4 for LSTM, 3 for GRU):

========================  ==================  ====================================
argument                  shape               meaning
========================  ==================  ====================================
``x``                     (B, T, D)           the input sequence, batch-major
``mask``                  (B, T)              False where a step is skipped
``dropout_mask``          (M, B, D)           multiplies the input ``x_t`` at
                                              every step: M = 0 (no dropout),
                                              1 (one mask for every gate) or
                                              G (mask k for gate k's columns)
``recurrent_dropout_mask``  (R, B, H)         multiplies ``h_{s-1}`` in the
                                              recurrent product of gate k:
                                              R = 0 (no dropout) or G
``h0``, ``c0``            (B, H)              initial states
``kernel``                (D, G*H)            Keras ``kernel``
``recurrent_kernel``      (H, G*H)            Keras ``recurrent_kernel``
``bias``                  (G*H,)              Keras ``bias``; GRU: (2, 3*H), row 0
                                              the input bias, row 1 the recurrent
                                              bias (both rows are used for either
                                              ``reset_after``; the layer passes a
                                              zero row 1 when reset_after=False)
``outputs``               (B, T, H)           the output at each *processed* step
``h_states``, ``c_states``  (T+1, B, H)       time-major states in processing
                                              order: index 0 is the initial state,
                                              index s+1 the state after step s
``gates``                 (T, B, G*H)         post-activation gates per step:
                                              LSTM i, f, g, o; GRU z, r, hh;
                                              zeros at masked steps
``recurrent_candidate``   (T, B, H)           GRU only: the recurrent term of the
                                              candidate before the reset gate,
                                              ``h_prev @ U_h + b_h`` (reset_after);
                                              zeros at masked steps
========================  ==================  ====================================

Every kernel takes ``x, mask, dropout_mask, recurrent_dropout_mask`` first,
in that order; the forward then the initial states and the weights, the
backward the weights (see :mod:`fastrnn.ops` for the whole pattern).

Options shared by every kernel (not forked per backend):

* ``activation``, ``recurrent_activation``: codes from
  :mod:`fastrnn.activations` (LINEAR, TANH, SIGMOID, RELU).
* ``go_backwards``: step ``s`` reads input position ``t = T-1-s``;
  ``outputs`` stay in processing order (Keras returns them reversed).
* ``mask``: where ``mask[b, t]`` is False the step is skipped: the states are
  carried over unchanged, and the output is the previous output (zeros
  before the first valid step) or, when ``zero_output_for_mask`` is True,
  zeros (what Keras's Bidirectional asks of its layers when returning
  sequences). Nothing of a masked step is used, so a kernel need not
  compute it: the compiled ones compute, at each step, the rows up to the
  last valid one, and a batch sorted by length (a ``PackedSequence``) costs
  what its valid steps do. Its ``gates`` are zeros there, whichever rows a
  kernel computed.

* dropout masks (Keras's ``dropout`` and ``recurrent_dropout``): the
  masks of one call, the same at every step, multiply an operand of the
  products before the product (``reference/_steps.py``,
  ``masked_product``); any values are allowed (Keras's are 0 and
  ``1 / (1 - rate)``). With M = R = 0 the kernels compute exactly what they
  compute without dropout.

Backward kernels take the forward's inputs and recorded buffers, the
gradients ``d_outputs`` (B, T, H) of the loss with respect to ``outputs``
and ``d_h_last`` (and ``d_c_last``) with respect to the final states
``h_states[T]`` (``c_states[T]``), and fill ``dx``, ``d_h0`` (``d_c0``),
``d_kernel``, ``d_recurrent_kernel`` and ``d_bias`` (shapes as their
forward counterparts), overwriting them.
"""

from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .simple_rnn import simple_rnn_backward, simple_rnn_forward

__all__ = [
    "simple_rnn_forward",
    "simple_rnn_backward",
    "lstm_forward",
    "lstm_backward",
    "gru_forward",
    "gru_backward",
]
