# GRU, over batch rows [b0, b1): gates [z, r, hh] from x_t @ W_x + b_x and the
# recurrent part, with the reset gate applied after the recurrent product
# (reset_after, Keras's default: hh = act(x_h + r * (h_{t-1} @ U_h + b_h))) or
# before it (hh = act(x_h + (r * h_{t-1}) @ U_h + b_h));
# h_t = z * h_{t-1} + (1 - z) * hh. Each step computes the rows up to the last
# valid one (``computed_end``).
# Included by _cython_kernels.pyx; the driver (_driver.pxi) calls these.

cdef inline void new_state(Py_ssize_t units, const floating* gates, const floating* h_prev,
                           floating* h_new) noexcept nogil:
    """One row of h_t = z * h_{t-1} + (1 - z) * hh from the row's activated gates."""
    cdef Py_ssize_t j
    cdef floating zg
    for j in range(units):
        zg = gates[j]
        h_new[j] = zg * h_prev[j] + (1 - zg) * gates[2 * units + j]


cdef int gru_forward_rows(const Job* jb, floating* h_states, Py_ssize_t b0,
                          Py_ssize_t b1) noexcept nogil:
    """The time loop over batch rows [b0, b1) (input projection: see ``input_rows``);
    -1 if out of memory."""
    cdef Py_ssize_t batch = jb.batch, timesteps = jb.timesteps, units = jb.units
    cdef Py_ssize_t width = jb.width, bh = batch * units, rows = b1 - b0
    cdef Py_ssize_t s, t, b, j, end
    cdef int activation = jb.activation, recurrent_activation = jb.recurrent_activation
    cdef const unsigned char* mask = jb.mask
    cdef const floating* recurrent_kernel = <const floating*> jb.recurrent_kernel
    cdef const floating* b_rec = <const floating*> jb.bias + width
    # u (B, 3H): h_prev @ W_h + b_rec, or (B, H) r * h_prev
    cdef floating* u = <floating*> jb.u
    cdef floating* g
    cdef floating* h_prev
    cdef floating* h_new
    cdef floating* u_h
    cdef floating* gb
    cdef floating* ub
    cdef bint fused = activation == TANH and recurrent_activation == SIGMOID
    cdef floating* h_masked = NULL     # recurrent_product's scratch under dropout
    if jb.n_recurrent_dropout:
        h_masked = <floating*> scratch(rows * units, sizeof(floating), False)
        if h_masked == NULL:
            return -1
    for s in range(timesteps):
        t = time_index(s, timesteps, jb.go_backwards)
        h_prev, h_new = h_states + s * bh, h_states + (s + 1) * bh
        g = <floating*> jb.gates + s * batch * width
        u_h = <floating*> jb.recurrent_candidate + s * bh
        # x_t @ W_x + b_x goes into the gate rows (projected up front, or
        # here); the steps below add to it in place.
        end = computed_end(mask, t, b0, b1, timesteps)
        input_rows(jb, t, b0, end, g)
        if jb.reset_after:
            for b in range(b0, end):
                memcpy(u + b * width, b_rec, width * sizeof(floating))
            recurrent_product(jb, b0, end, h_prev + b0 * units, 0, width, u + b0 * width, width,
                              h_masked)
            for b in range(b0, end):
                gb, ub = g + b * width, u + b * width
                if floating is float:
                    if fused:   # the same bits as the loops below, in one pass
                        gru_gates_f32(units, gb, ub, h_prev + b * units, u_h + b * units,
                                      h_new + b * units)
                        continue
                for j in range(2 * units):
                    gb[j] = gb[j] + ub[j]
                activate_array(recurrent_activation, gb, gb, 2 * units)       # z, r
                for j in range(units):
                    u_h[b * units + j] = ub[2 * units + j]
                    gb[2 * units + j] = gb[2 * units + j] + gb[units + j] * ub[2 * units + j]
                activate_array(activation, gb + 2 * units, gb + 2 * units, units)  # hh
                new_state(units, gb, h_prev + b * units, h_new + b * units)
        else:
            for b in range(b0, end):
                gb = g + b * width
                for j in range(2 * units):
                    gb[j] = gb[j] + b_rec[j]
            recurrent_product(jb, b0, end, h_prev + b0 * units, 0, 2 * units, g + b0 * width,
                              width, h_masked)
            for b in range(b0, end):
                activate_array(recurrent_activation, g + b * width, g + b * width, 2 * units)
                for j in range(units):
                    u[b * units + j] = g[b * width + units + j] * h_prev[b * units + j]
                    u_h[b * units + j] = b_rec[2 * units + j]
            # the candidate's operand r * h_prev (under dropout, times its mask)
            recurrent_product(jb, b0, end, u + b0 * units, 2 * units, units, u_h + b0 * units,
                              units, h_masked)
            for b in range(b0, end):
                gb = g + b * width
                for j in range(units):
                    gb[2 * units + j] = gb[2 * units + j] + u_h[b * units + j]
                activate_array(activation, gb + 2 * units, gb + 2 * units, units)  # hh
                new_state(units, gb, h_prev + b * units, h_new + b * units)
        masked_outputs(mask, s, t, b0, b1, timesteps, units, jb.zero_output_for_mask,
                       h_new, <floating*> jb.outputs)
        for b in range(b0, b1):
            if not mask[b * timesteps + t]:
                memcpy(h_new + b * units, h_prev + b * units, units * sizeof(floating))
        clear_masked_rows(mask, t, b0, b1, timesteps, g, width)
        clear_masked_rows(mask, t, b0, b1, timesteps, u_h, units)
    free(h_masked)
    return 0


# The gate math of one forward row with reset_after, fused (_gates.h,
# _simd_isa.h): float32, Keras's default activations.
cdef extern from "_simd.h" nogil:
    void gru_gates_f32 "fastrnn_k_gru_gates_f32"(Py_ssize_t units, float* z, const float* u,
                                                 const float* h_prev, float* u_h,
                                                 float* h_new)


# Pass 1 of the step gradients of one row (_gates.h): Keras's default (tanh,
# sigmoid gates, reset_after), and any activation codes with either reset_after.
cdef extern from "_simd.h" nogil:
    void gru_step_grads_tanh_sigmoid_f32 "fastrnn_k_gru_grads_tanh_sigmoid_f32"(
        Py_ssize_t units, int activation, int recurrent_activation, bint reset_after,
        const float* gates, const float* u, const float* h_prev, const float* d_h_new,
        float* dh, float* dz, float* aux)
    void gru_step_grads_tanh_sigmoid_f64 "fastrnn_k_gru_grads_tanh_sigmoid_f64"(
        Py_ssize_t units, int activation, int recurrent_activation, bint reset_after,
        const double* gates, const double* u, const double* h_prev, const double* d_h_new,
        double* dh, double* dz, double* aux)
    void gru_step_grads_f32 "fastrnn_k_gru_grads_f32"(
        Py_ssize_t units, int activation, int recurrent_activation, bint reset_after,
        const float* gates, const float* u, const float* h_prev, const float* d_h_new,
        float* dh, float* dz, float* aux)
    void gru_step_grads_f64 "fastrnn_k_gru_grads_f64"(
        Py_ssize_t units, int activation, int recurrent_activation, bint reset_after,
        const double* gates, const double* u, const double* h_prev, const double* d_h_new,
        double* dh, double* dz, double* aux)


cdef inline void gru_step_grads(Py_ssize_t units, int activation, int recurrent_activation,
                                bint reset_after, const floating* gates, const floating* u,
                                const floating* h_prev, const floating* d_h_new,
                                floating* dh, floating* dz, floating* aux) noexcept nogil:
    """Pass 1 of one row of one backward step: from the row's gates [z, r, hh],
    ``u`` (reset_after: h_prev @ U_h + b_h), ``h_prev`` and the gradient reaching
    h_t (``d_h_new + dh``), the gradients of z and hh (and r with reset_after)
    into ``dz``, ``aux`` (reset_after: the gradient of u; else r * h_prev), and
    the direct part of dh_{t-1} into ``dh``."""
    if reset_after and activation == TANH and recurrent_activation == SIGMOID:
        if floating is float:
            gru_step_grads_tanh_sigmoid_f32(units, activation, recurrent_activation,
                                            reset_after, gates, u, h_prev, d_h_new, dh, dz,
                                            aux)
        else:
            gru_step_grads_tanh_sigmoid_f64(units, activation, recurrent_activation,
                                            reset_after, gates, u, h_prev, d_h_new, dh, dz,
                                            aux)
    elif floating is float:
        gru_step_grads_f32(units, activation, recurrent_activation, reset_after, gates, u,
                           h_prev, d_h_new, dh, dz, aux)
    else:
        gru_step_grads_f64(units, activation, recurrent_activation, reset_after, gates, u,
                           h_prev, d_h_new, dh, dz, aux)


cdef int gru_backward_rows(const Job* jb, floating* d_in, Py_ssize_t b0,
                           Py_ssize_t b1) noexcept nogil:
    """BPTT over batch rows [b0, b1): their rows of ``d_in`` (B*T, 3H), ``aux``,
    ``h_prev_all`` and ``dh`` (left holding d_h0); -1 if out of memory."""
    cdef Py_ssize_t batch = jb.batch, timesteps = jb.timesteps, units = jb.units
    cdef Py_ssize_t width = jb.width, bh = batch * units, rows = b1 - b0
    cdef Py_ssize_t s, t, b, j, end
    cdef int activation = jb.activation, recurrent_activation = jb.recurrent_activation
    cdef bint reset_after = jb.reset_after
    cdef const unsigned char* mask = jb.mask
    cdef floating* dh = <floating*> jb.dh
    # aux[b, t]: reset_after: du_h, the gradient of u_h; else r * h_prev.
    cdef floating* aux = <floating*> jb.aux
    cdef floating* d_h_new = <floating*> jb.d_h_new
    cdef floating* d_rh = <floating*> jb.d_rh
    cdef floating* d_t
    cdef floating* aux_t
    cdef const floating* g_s
    cdef const floating* u_s
    cdef const floating* h_prev
    cdef floating r, dr
    # recurrent_grad's scratch under dropout; the candidate's recurrent masks
    cdef floating* part = NULL
    cdef const floating* mask_h = NULL
    if jb.n_recurrent_dropout:
        mask_h = <const floating*> jb.recurrent_dropout_mask + 2 * bh
        part = <floating*> scratch(rows * units, sizeof(floating), False)
        if part == NULL:
            return -1
    for s in range(timesteps - 1, -1, -1):
        t = time_index(s, timesteps, jb.go_backwards)
        h_prev = <const floating*> jb.h_states + s * bh
        g_s = <const floating*> jb.gates + s * batch * width
        u_s = <const floating*> jb.recurrent_candidate + s * bh
        output_grad(mask, s, t, b0, b1, timesteps, units, jb.zero_output_for_mask,
                    <const floating*> jb.d_outputs, <floating*> jb.d_prev_output, d_h_new)
        # The products below run over the rows computed at this step (the
        # gradients are 0 after them).
        end = computed_end(mask, t, b0, b1, timesteps)
        # Pass 1: dz (stored raw in the z block), da_h, du_h, and dh_prev's direct part.
        for b in range(b0, b1):
            d_t = d_in + (b * timesteps + t) * width
            aux_t = aux + (b * timesteps + t) * units
            if not mask[b * timesteps + t]:
                for j in range(width):
                    d_t[j] = 0
                for j in range(units):
                    aux_t[j] = 0
                continue
            gru_step_grads(units, activation, recurrent_activation, reset_after,
                           g_s + b * width, u_s + b * units, h_prev + b * units,
                           d_h_new + b * units, dh + b * units, d_t, aux_t)
            if mask_h != NULL and not reset_after:     # aux: r * h_prev * r_h
                for j in range(units):
                    aux_t[j] = aux_t[j] * mask_h[b * units + j]
        if not reset_after:
            # d(r * h_prev) = da_h @ W_h[:, h]^T (times r_h); then dr and the
            # reset path into dh.
            for j in range(b0 * units, end * units):
                d_rh[j] = 0
            recurrent_grad(jb, b0, end, d_in + (b0 * timesteps + t) * width + 2 * units,
                           timesteps * width, 2 * units, units, d_rh + b0 * units, part)
            for b in range(b0, end):
                if not mask[b * timesteps + t]:
                    continue
                d_t = d_in + (b * timesteps + t) * width
                for j in range(units):
                    r = g_s[b * width + units + j]
                    dr = d_rh[b * units + j] * h_prev[b * units + j]
                    d_t[units + j] = dr * derivative(recurrent_activation, r)
                    dh[b * units + j] += d_rh[b * units + j] * r
        else:
            recurrent_grad(jb, b0, end, aux + (b0 * timesteps + t) * units, timesteps * units,
                           2 * units, units, dh + b0 * units, part)
        # Masked rows carried dh unchanged above; d_in is zero there.
        recurrent_grad(jb, b0, end, d_in + (b0 * timesteps + t) * width, timesteps * width, 0,
                       2 * units, dh + b0 * units, part)
    gather_states(<const floating*> jb.h_states, b0, b1, batch, timesteps, units,
                  jb.go_backwards, <floating*> jb.h_prev_all)
    free(part)
    return 0
