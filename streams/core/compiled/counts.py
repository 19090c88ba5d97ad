"""Read counts per (window, camera, site) of the good rows, and the fresh rows (good and not duplicates)."""

from __future__ import annotations

import numpy as np

from streams.core.compiled.jit import jit, key_hash


@jit
def read_groups(good, dup, t, cam_id, site_id, bucket):
    """Read counts per (window, camera, site), groups in order of first appearance; and the fresh rows.

    Returns (fresh rows, window start (s), a row of the group, reads, duplicates) per group."""
    ng = good.size
    gwin = np.empty(ng, np.int64)
    gcam = np.empty(ng, np.int32)
    gsite = np.empty(ng, np.int32)
    gfirst = np.empty(ng, np.int64)
    greads = np.zeros(ng, np.int64)
    gdups = np.zeros(ng, np.int64)
    ngroups = 0
    slots = np.full(64, -1, np.int32)
    fresh = np.empty(ng, np.int64)
    nf = 0
    for i in good:
        w = (t[i] - t[i] % bucket) // 1000
        cm, st = cam_id[i], site_id[i]
        if 2 * ngroups >= slots.size:
            slots = np.full(slots.size * 2, -1, np.int32)
            mk = slots.size - 1
            for g in range(ngroups):
                j = np.int64(key_hash(gwin[g], gcam[g], gsite[g]) & np.uint64(mk))
                while slots[j] >= 0:
                    j = (j + 1) & mk
                slots[j] = g
        mask = slots.size - 1
        j = np.int64(key_hash(w, cm, st) & np.uint64(mask))
        while True:
            g = slots[j]
            if g < 0:
                g = ngroups
                slots[j] = g
                gwin[g], gcam[g], gsite[g], gfirst[g] = w, cm, st, i
                ngroups += 1
                break
            if gwin[g] == w and gcam[g] == cm and gsite[g] == st:
                break
            j = (j + 1) & mask
        greads[g] += 1
        if dup[i]:
            gdups[g] += 1
        else:
            fresh[nf] = i
            nf += 1
    return fresh[:nf], gwin[:ngroups], gfirst[:ngroups], greads[:ngroups], gdups[:ngroups]
