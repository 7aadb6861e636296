# LSTM, over batch rows [b0, b1): gates z = x_t @ W_x + h_{t-1} @ W_h + b split
# as [i, f, g, o], c_t = f * c_{t-1} + i * g, h_t = o * act(c_t). Each step
# computes the rows up to the last valid one (``computed_end``).
# Included by _cython_kernels.pyx; the driver (_driver.pxi) calls these.

cdef int lstm_forward_rows(const Job* jb, floating* h_states, Py_ssize_t b0,
                           Py_ssize_t b1) noexcept nogil:
    """The time loop over batch rows [b0, b1) (input projection: see ``input_rows``);
    -1 if out of memory."""
    cdef Py_ssize_t batch = jb.batch, timesteps = jb.timesteps, units = jb.units
    cdef Py_ssize_t width = jb.width, bh = batch * units
    cdef Py_ssize_t s, t, b, j, end
    cdef int activation = jb.activation, recurrent_activation = jb.recurrent_activation
    cdef const unsigned char* mask = jb.mask
    cdef floating* c_states = <floating*> jb.c_states
    cdef floating* z
    cdef floating* h_prev
    cdef floating* h_new
    cdef floating* c_prev
    cdef floating* c_new
    cdef floating* zb
    cdef floating* cb
    cdef floating* hb
    cdef const floating* cp
    cdef bint fused = activation == TANH and recurrent_activation == SIGMOID
    cdef floating* h_masked = NULL     # recurrent_product's scratch under dropout
    if jb.n_recurrent_dropout:
        h_masked = <floating*> scratch((b1 - b0) * units, sizeof(floating), False)
        if h_masked == NULL:
            return -1
    for s in range(timesteps):
        t = time_index(s, timesteps, jb.go_backwards)
        h_prev, h_new = h_states + s * bh, h_states + (s + 1) * bh
        c_prev, c_new = c_states + s * bh, c_states + (s + 1) * bh
        z = <floating*> jb.gates + s * batch * width
        end = computed_end(mask, t, b0, b1, timesteps)
        input_rows(jb, t, b0, end, z)
        recurrent_product(jb, b0, end, h_prev + b0 * units, 0, width, z + b0 * width, width,
                          h_masked)
        for b in range(b0, end):
            zb = z + b * width
            cb, hb, cp = c_new + b * units, h_new + b * units, c_prev + b * units
            if floating is float:
                if fused:   # the same bits as the loops below, in one pass
                    lstm_gates_f32(units, zb, cp, cb, hb)
                    continue
            activate_array(recurrent_activation, zb, zb, 2 * units)            # i, f
            activate_array(activation, zb + 2 * units, zb + 2 * units, units)  # g
            activate_array(recurrent_activation, zb + 3 * units, zb + 3 * units, units)  # o
            for j in range(units):
                cb[j] = zb[units + j] * cp[j] + zb[j] * zb[2 * units + j]
            activate_array(activation, cb, hb, units)
            for j in range(units):
                hb[j] = zb[3 * units + j] * hb[j]
        masked_outputs(mask, s, t, b0, b1, timesteps, units, jb.zero_output_for_mask,
                       h_new, <floating*> jb.outputs)
        for b in range(b0, b1):
            if not mask[b * timesteps + t]:
                memcpy(h_new + b * units, h_prev + b * units, units * sizeof(floating))
                memcpy(c_new + b * units, c_prev + b * units, units * sizeof(floating))
        clear_masked_rows(mask, t, b0, b1, timesteps, z, width)
    free(h_masked)
    return 0


# The gate math of one forward row, fused (_gates.h, _simd_isa.h): float32,
# Keras's default activations.
cdef extern from "_simd.h" nogil:
    void lstm_gates_f32 "fastrnn_k_lstm_gates_f32"(Py_ssize_t units, float* z,
                                                   const float* c_prev, float* c_new,
                                                   float* h_new)


# The step gradients of one row (_gates.h): Keras's default activations
# (tanh, sigmoid gates), and any activation codes.
cdef extern from "_simd.h" nogil:
    void lstm_step_grads_tanh_sigmoid_f32 "fastrnn_k_lstm_grads_tanh_sigmoid_f32"(
        Py_ssize_t units, int activation, int recurrent_activation, const float* gates,
        const float* act_c, const float* c_prev, const float* d_h_new, float* dh, float* dc,
        float* dz)
    void lstm_step_grads_tanh_sigmoid_f64 "fastrnn_k_lstm_grads_tanh_sigmoid_f64"(
        Py_ssize_t units, int activation, int recurrent_activation, const double* gates,
        const double* act_c, const double* c_prev, const double* d_h_new, double* dh,
        double* dc, double* dz)
    void lstm_step_grads_f32 "fastrnn_k_lstm_grads_f32"(
        Py_ssize_t units, int activation, int recurrent_activation, const float* gates,
        const float* act_c, const float* c_prev, const float* d_h_new, float* dh, float* dc,
        float* dz)
    void lstm_step_grads_f64 "fastrnn_k_lstm_grads_f64"(
        Py_ssize_t units, int activation, int recurrent_activation, const double* gates,
        const double* act_c, const double* c_prev, const double* d_h_new, double* dh,
        double* dc, double* dz)


cdef inline void lstm_step_grads(Py_ssize_t units, int activation, int recurrent_activation,
                                 const floating* gates, const floating* act_c,
                                 const floating* c_prev, const floating* d_h_new,
                                 floating* dh, floating* dc, floating* dz) noexcept nogil:
    """One row of one backward step: the gate pre-activation gradients ``dz`` (4H)
    from the row's gates [i, f, g, o], ``act_c = act(c_t)``, ``c_prev`` and the
    gradients reaching h_t (``d_h_new + dh``) and c_t (``dc``); leaves
    ``dc = dc_{t-1}`` (the part through the forget gate) and ``dh = 0``."""
    if activation == TANH and recurrent_activation == SIGMOID:
        if floating is float:
            lstm_step_grads_tanh_sigmoid_f32(units, activation, recurrent_activation, gates,
                                             act_c, c_prev, d_h_new, dh, dc, dz)
        else:
            lstm_step_grads_tanh_sigmoid_f64(units, activation, recurrent_activation, gates,
                                             act_c, c_prev, d_h_new, dh, dc, dz)
    elif floating is float:
        lstm_step_grads_f32(units, activation, recurrent_activation, gates, act_c, c_prev,
                            d_h_new, dh, dc, dz)
    else:
        lstm_step_grads_f64(units, activation, recurrent_activation, gates, act_c, c_prev,
                            d_h_new, dh, dc, dz)


cdef int lstm_backward_rows(const Job* jb, floating* dz, Py_ssize_t b0,
                            Py_ssize_t b1) noexcept nogil:
    """BPTT over batch rows [b0, b1): their rows of ``dz`` (B*T, 4H), ``h_prev_all``,
    ``dh`` and ``dc`` (left holding d_h0, d_c0); -1 if out of memory."""
    cdef Py_ssize_t batch = jb.batch, timesteps = jb.timesteps, units = jb.units
    cdef Py_ssize_t width = jb.width, bh = batch * units
    cdef Py_ssize_t s, t, b, j, end
    cdef int activation = jb.activation, recurrent_activation = jb.recurrent_activation
    cdef const unsigned char* mask = jb.mask
    cdef const floating* c_states = <const floating*> jb.c_states
    cdef floating* dh = <floating*> jb.dh
    cdef floating* dc = <floating*> jb.dc
    cdef floating* d_h_new = <floating*> jb.d_h_new
    cdef floating* act_row = <floating*> scratch(units, sizeof(floating), False)
    cdef floating* part = NULL     # recurrent_grad's scratch under dropout
    cdef floating* dz_t
    cdef const floating* g_s
    cdef const floating* c_prev
    cdef const floating* c_new
    if jb.n_recurrent_dropout:
        part = <floating*> scratch((b1 - b0) * units, sizeof(floating), False)
    if act_row == NULL or (jb.n_recurrent_dropout and part == NULL):
        free(act_row)
        free(part)
        return -1
    for s in range(timesteps - 1, -1, -1):
        t = time_index(s, timesteps, jb.go_backwards)
        c_prev, c_new = c_states + s * bh, c_states + (s + 1) * bh
        g_s = <const floating*> jb.gates + s * batch * width
        output_grad(mask, s, t, b0, b1, timesteps, units, jb.zero_output_for_mask,
                    <const floating*> jb.d_outputs, <floating*> jb.d_prev_output, d_h_new)
        for b in range(b0, b1):
            dz_t = dz + (b * timesteps + t) * width
            if not mask[b * timesteps + t]:
                for j in range(width):
                    dz_t[j] = 0
                continue
            activate_array(activation, c_new + b * units, act_row, units)
            lstm_step_grads(units, activation, recurrent_activation, g_s + b * width, act_row,
                            c_prev + b * units, d_h_new + b * units, dh + b * units,
                            dc + b * units, dz_t)
        # dh_{s-1} += dz_s @ W_h^T, over the rows computed at this step (dz is 0 after them)
        end = computed_end(mask, t, b0, b1, timesteps)
        recurrent_grad(jb, b0, end, dz + (b0 * timesteps + t) * width, timesteps * width, 0,
                       width, dh + b0 * units, part)
    gather_states(<const floating*> jb.h_states, b0, b1, batch, timesteps, units,
                  jb.go_backwards, <floating*> jb.h_prev_all)
    free(act_row)
    free(part)
    return 0
