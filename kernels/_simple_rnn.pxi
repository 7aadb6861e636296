# SimpleRNN: h_t = act(x_t @ W_x + h_{t-1} @ W_h + b), over batch rows [b0, b1),
# each step computing the rows up to the last valid one (``computed_end``).
# Included by _cython_kernels.pyx; the driver (_driver.pxi) calls these.

cdef int simple_rnn_forward_rows(const Job* jb, floating* h_states, Py_ssize_t b0,
                                 Py_ssize_t b1) noexcept nogil:
    """The time loop over batch rows [b0, b1) (input projection: see ``input_rows``);
    -1 if out of memory."""
    cdef Py_ssize_t batch = jb.batch, timesteps = jb.timesteps, units = jb.units
    cdef Py_ssize_t s, t, b, end
    cdef const unsigned char* mask = jb.mask
    cdef floating* outputs = <floating*> jb.outputs
    cdef floating* h_prev
    cdef floating* h_new
    cdef floating* h_masked = NULL     # recurrent_product's scratch under dropout
    if jb.n_recurrent_dropout:
        h_masked = <floating*> scratch((b1 - b0) * units, sizeof(floating), False)
        if h_masked == NULL:
            return -1
    for s in range(timesteps):
        t = time_index(s, timesteps, jb.go_backwards)
        h_prev = h_states + s * batch * units
        h_new = h_prev + batch * units
        end = computed_end(mask, t, b0, b1, timesteps)
        input_rows(jb, t, b0, end, h_new)
        recurrent_product(jb, b0, end, h_prev + b0 * units, 0, units, h_new + b0 * units,
                          units, h_masked)
        for b in range(b0, end):
            if mask[b * timesteps + t]:
                activate_array(jb.activation, h_new + b * units, h_new + b * units, units)
        masked_outputs(mask, s, t, b0, b1, timesteps, units, jb.zero_output_for_mask,
                       h_new, outputs)
        for b in range(b0, b1):
            if not mask[b * timesteps + t]:
                memcpy(h_new + b * units, h_prev + b * units, units * sizeof(floating))
    free(h_masked)
    return 0


cdef int simple_rnn_backward_rows(const Job* jb, floating* da, Py_ssize_t b0,
                                  Py_ssize_t b1) noexcept nogil:
    """BPTT over batch rows [b0, b1): their rows of ``da`` (B*T, H), ``h_prev_all``
    and ``dh`` (left holding d_h0); -1 if out of memory."""
    cdef Py_ssize_t batch = jb.batch, timesteps = jb.timesteps, units = jb.units
    cdef Py_ssize_t s, t, b, j, end
    cdef int activation = jb.activation
    cdef const unsigned char* mask = jb.mask
    cdef const floating* h_states = <const floating*> jb.h_states
    cdef floating* dh = <floating*> jb.dh
    cdef floating* d_prev_output = <floating*> jb.d_prev_output
    cdef floating* d_h_new = <floating*> jb.d_h_new
    cdef floating* da_t
    cdef const floating* h_new
    cdef floating* part = NULL     # recurrent_grad's scratch under dropout
    if jb.n_recurrent_dropout:
        part = <floating*> scratch((b1 - b0) * units, sizeof(floating), False)
        if part == NULL:
            return -1
    for s in range(timesteps - 1, -1, -1):
        t = time_index(s, timesteps, jb.go_backwards)
        h_new = h_states + (s + 1) * batch * units
        output_grad(mask, s, t, b0, b1, timesteps, units, jb.zero_output_for_mask,
                    <const floating*> jb.d_outputs, d_prev_output, d_h_new)
        for b in range(b0, b1):
            da_t = da + (b * timesteps + t) * units
            if mask[b * timesteps + t]:
                for j in range(units):
                    da_t[j] = ((d_h_new[b * units + j] + dh[b * units + j])
                               * derivative(activation, h_new[b * units + j]))
                    dh[b * units + j] = 0
            else:
                for j in range(units):
                    da_t[j] = 0
        # dh_{s-1} = da @ W_h^T (+ dh itself on masked rows, kept above), over
        # the rows computed at this step (da is 0 after them)
        end = computed_end(mask, t, b0, b1, timesteps)
        recurrent_grad(jb, b0, end, da + (b0 * timesteps + t) * units, timesteps * units, 0,
                       units, dh + b0 * units, part)
    gather_states(h_states, b0, b1, batch, timesteps, units, jb.go_backwards,
                  <floating*> jb.h_prev_all)
    free(part)
    return 0
