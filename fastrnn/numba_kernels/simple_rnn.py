"""SimpleRNN forward and BPTT, compiled with Numba (contract: fastrnn.reference).

The input projection of all steps is one GEMM into the time-major
``h_states[1:]``, which then serves as the per-step workspace: each step
adds ``h_{s-1} @ W_h`` and the bias, applies the activation and writes the
state in place. Backward keeps only ``dh`` in the time loop; the weight and
input gradients are bulk GEMMs over the recorded pre-activation gradients.
"""
import numpy as np
from numba import njit

from ._math import (
    act_add, backward_input_grads, column_sums, matmul, matmul_acc, matmul_tn,
    mul_dact_inplace, time_major, transpose,
)
from .config import JIT_OPTIONS, SMALL_GEMM


@njit(**JIT_OPTIONS)
def simple_rnn_forward(x, mask, h0, kernel, recurrent_kernel, bias,
                       activation, go_backwards, zero_output_for_mask,
                       outputs, h_states):
    batch, timesteps, _ = x.shape
    units = h0.shape[1]
    h_states[0] = h0
    if batch == 0 or timesteps == 0:
        return
    xt = time_major(x, go_backwards)
    work = h_states[1:].reshape(timesteps * batch, units)
    matmul(xt, kernel, work)
    h_new = np.empty(units, x.dtype)
    tmp = np.empty((batch, units), x.dtype)
    for s in range(timesteps):
        t = timesteps - 1 - s if go_backwards else s
        h_prev = h_states[s]
        cur = h_states[s + 1]
        matmul_acc(h_prev, recurrent_kernel, cur, tmp)
        for b in range(batch):
            row = cur[b]
            act_add(h_new, row, bias, 0, units, activation)
            out = outputs[b, s]
            if mask[b, t]:
                for j in range(units):
                    row[j] = h_new[j]
                    out[j] = h_new[j]
            else:
                hp = h_prev[b]
                for j in range(units):
                    row[j] = hp[j]
                if zero_output_for_mask or s == 0:
                    out[:] = 0
                else:
                    out[:] = outputs[b, s - 1]


@njit(**JIT_OPTIONS)
def simple_rnn_backward(x, mask, kernel, recurrent_kernel,
                        activation, go_backwards, zero_output_for_mask,
                        h_states, d_outputs, d_h_last,
                        dx, d_h0, d_kernel, d_recurrent_kernel, d_bias):
    batch, timesteps, _ = x.shape
    units = d_h_last.shape[1]
    if batch == 0 or timesteps == 0:
        d_kernel[:, :] = 0
        d_recurrent_kernel[:, :] = 0
        d_bias[:] = 0
        d_h0[:, :] = d_h_last
        dx[:, :, :] = 0
        return
    dgates = np.empty((timesteps * batch, units), x.dtype)
    dh = d_h_last.copy()
    d_prev_out = np.zeros((batch, units), x.dtype)
    rk_t = transpose(recurrent_kernel)
    tmp = np.empty((batch, units), x.dtype)
    small = batch * units * units <= SMALL_GEMM
    for s in range(timesteps - 1, -1, -1):
        t = timesteps - 1 - s if go_backwards else s
        dg = dgates[s * batch:(s + 1) * batch]
        for b in range(batch):
            row = dg[b]
            dout = d_outputs[b, s]
            dpo = d_prev_out[b]
            if mask[b, t]:
                dhb = dh[b]
                for j in range(units):
                    row[j] = dout[j] + dpo[j] + dhb[j]
                    dpo[j] = 0
                mul_dact_inplace(row, h_states[s + 1, b], 0, units, activation)
            else:
                for j in range(units):
                    v = dout[j] + dpo[j]
                    dpo[j] = 0 if zero_output_for_mask else v
                    row[j] = 0
        # dh_{s-1} = dG_s @ W_h^T, plus dh itself where the step was masked
        if small:
            for b in range(batch):
                dhb = dh[b]
                if mask[b, t]:
                    dhb[:] = 0
                    row = dg[b]
                    for j in range(units):
                        v = row[j]
                        wj = rk_t[j]
                        for k in range(units):
                            dhb[k] += v * wj[k]
        else:
            np.dot(dg, rk_t, tmp)
            for b in range(batch):
                if mask[b, t]:
                    dh[b] = tmp[b]
    d_h0[:, :] = dh
    xt = time_major(x, go_backwards)
    matmul_tn(h_states[:timesteps].reshape(timesteps * batch, units), dgates,
              d_recurrent_kernel)
    column_sums(dgates, d_bias)
    backward_input_grads(xt, dgates, kernel, go_backwards, dx, d_kernel)
