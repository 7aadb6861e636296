"""LSTM forward and BPTT, compiled with Numba (contract: fastrnn.reference).

Forward: one GEMM puts ``x_t @ W_x`` of every step into the time-major
``gates`` buffer, which is the workspace of the time loop: each step adds
``h_{s-1} @ W_h`` (hand loop when small, BLAS when large), then bias and
the gate nonlinearities in place, then the cell update. Backward carries
``dh``/``dc`` only; ``dW_x``, ``dW_h``, ``db`` and ``dx`` are bulk GEMMs
after the loop.
"""
import numpy as np
from numba import njit

from ._math import (
    act_add, act_inplace, backward_input_grads, column_sums, matmul, matmul_acc,
    matmul_tn, mul_dact, time_major, transpose,
)
from .config import JIT_OPTIONS, SMALL_GEMM


@njit(**JIT_OPTIONS)
def lstm_forward(x, mask, h0, c0, kernel, recurrent_kernel, bias,
                 activation, recurrent_activation, go_backwards, zero_output_for_mask,
                 outputs, h_states, c_states, gates):
    batch, timesteps, _ = x.shape
    units = h0.shape[1]
    h_states[0] = h0
    c_states[0] = c0
    if batch == 0 or timesteps == 0:
        return
    xt = time_major(x, go_backwards)
    matmul(xt, kernel, gates.reshape(timesteps * batch, 4 * units))
    act_c = np.empty(units, x.dtype)
    tmp = np.empty((batch, 4 * units), x.dtype)
    h1, h2, h3, h4 = units, 2 * units, 3 * units, 4 * units
    for s in range(timesteps):
        t = timesteps - 1 - s if go_backwards else s
        h_prev = h_states[s]
        c_prev = c_states[s]
        cur = gates[s]
        matmul_acc(h_prev, recurrent_kernel, cur, tmp)
        for b in range(batch):
            g = cur[b]
            act_add(g, g, bias, 0, h2, recurrent_activation)
            act_add(g, g, bias, h2, h3, activation)
            act_add(g, g, bias, h3, h4, recurrent_activation)
            hn = h_states[s + 1, b]
            cn = c_states[s + 1, b]
            cp = c_prev[b]
            out = outputs[b, s]
            if mask[b, t]:
                for j in range(units):
                    cn[j] = g[h1 + j] * cp[j] + g[j] * g[h2 + j]
                act_inplace(act_c, cn, units, activation)
                for j in range(units):
                    v = g[h3 + j] * act_c[j]
                    hn[j] = v
                    out[j] = v
            else:
                hp = h_prev[b]
                for j in range(units):
                    hn[j] = hp[j]
                    cn[j] = cp[j]
                if zero_output_for_mask or s == 0:
                    out[:] = 0
                else:
                    out[:] = outputs[b, s - 1]


@njit(**JIT_OPTIONS)
def lstm_backward(x, mask, kernel, recurrent_kernel,
                  activation, recurrent_activation, go_backwards, zero_output_for_mask,
                  h_states, c_states, gates, d_outputs, d_h_last, d_c_last,
                  dx, d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias):
    batch, timesteps, _ = x.shape
    units = d_h_last.shape[1]
    if batch == 0 or timesteps == 0:
        d_kernel[:, :] = 0
        d_recurrent_kernel[:, :] = 0
        d_bias[:] = 0
        d_h0[:, :] = d_h_last
        d_c0[:, :] = d_c_last
        dx[:, :, :] = 0
        return
    h1, h2, h3, h4 = units, 2 * units, 3 * units, 4 * units
    dgates = np.empty((timesteps * batch, h4), x.dtype)
    dh = d_h_last.copy()
    dc = d_c_last.copy()
    d_prev_out = np.zeros((batch, units), x.dtype)
    dhn = np.empty(units, x.dtype)
    act_c = np.empty(units, x.dtype)
    dtmp = np.empty(units, x.dtype)
    rk_t = transpose(recurrent_kernel)
    tmp = np.empty((batch, units), x.dtype)
    small = batch * units * h4 <= SMALL_GEMM
    for s in range(timesteps - 1, -1, -1):
        t = timesteps - 1 - s if go_backwards else s
        dg = dgates[s * batch:(s + 1) * batch]
        for b in range(batch):
            row = dg[b]
            dout = d_outputs[b, s]
            dpo = d_prev_out[b]
            if mask[b, t]:
                dhb = dh[b]
                dcb = dc[b]
                g = gates[s, b]
                cp = c_states[s, b]
                for j in range(units):
                    dhn[j] = dout[j] + dpo[j] + dhb[j]
                    dpo[j] = 0
                act_inplace(act_c, c_states[s + 1, b], units, activation)
                for j in range(units):
                    dtmp[j] = dhn[j] * g[h3 + j]
                mul_dact(dtmp, dtmp, act_c, 0, units, activation)
                for j in range(units):
                    dcn = dcb[j] + dtmp[j]
                    row[j] = dcn * g[h2 + j]
                    row[h1 + j] = dcn * cp[j]
                    row[h2 + j] = dcn * g[j]
                    row[h3 + j] = dhn[j] * act_c[j]
                    dcb[j] = dcn * g[h1 + j]
                mul_dact(row, row, g, 0, h2, recurrent_activation)
                mul_dact(row, row, g, h2, h3, activation)
                mul_dact(row, row, g, h3, h4, recurrent_activation)
            else:
                for j in range(units):
                    v = dout[j] + dpo[j]
                    dpo[j] = 0 if zero_output_for_mask else v
                for j in range(h4):
                    row[j] = 0
        if small:
            for b in range(batch):
                dhb = dh[b]
                if mask[b, t]:
                    dhb[:] = 0
                    row = dg[b]
                    for j in range(h4):
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
    d_c0[:, :] = dc
    xt = time_major(x, go_backwards)
    matmul_tn(h_states[:timesteps].reshape(timesteps * batch, units), dgates,
              d_recurrent_kernel)
    column_sums(dgates, d_bias)
    backward_input_grads(xt, dgates, kernel, go_backwards, dx, d_kernel)
