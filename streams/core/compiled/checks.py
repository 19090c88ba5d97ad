"""The row checks of ``streams.core.validate`` in one compiled pass: each row gets a mask of the checks it fails,
and the first failing check in ``validate.CHECK_ORDER`` (``FIRST_FAILING``, a table over the masks) its reason."""

from __future__ import annotations

import numpy as np

from streams.core.compiled.buffers import is_valid
from streams.core.compiled.jit import jit
from streams.core.validate import first_failing_table
from streams.model import deadletter as dl

# The bit each check sets in a row's mask of failed checks (which bit is which, not the order checks apply in).
MISSING_READ_ID_BIT = 1 << 0
MISSING_CAMERA_BIT = 1 << 1
MISSING_TIME_BIT = 1 << 2
TIME_IN_FUTURE_BIT = 1 << 3
TIME_TOO_OLD_BIT = 1 << 4
MISSING_PLATE_BIT = 1 << 5
BAD_PLATE_BIT = 1 << 6
BAD_REGION_BIT = 1 << 7
BAD_CONFIDENCE_BIT = 1 << 8
CHECK_BITS = {
    dl.MISSING_READ_ID: MISSING_READ_ID_BIT,
    dl.MISSING_CAMERA: MISSING_CAMERA_BIT,
    dl.MISSING_TIME: MISSING_TIME_BIT,
    dl.TIME_IN_FUTURE: TIME_IN_FUTURE_BIT,
    dl.TIME_TOO_OLD: TIME_TOO_OLD_BIT,
    dl.MISSING_PLATE: MISSING_PLATE_BIT,
    dl.BAD_PLATE: BAD_PLATE_BIT,
    dl.BAD_REGION: BAD_REGION_BIT,
    dl.BAD_CONFIDENCE: BAD_CONFIDENCE_BIT,
}
# mask of failed checks -> reason code (index into validate.REASON_CODES, 0 = good)
FIRST_FAILING = first_failing_table({reason: bit.bit_length() - 1 for reason, bit in CHECK_BITS.items()})


@jit
def row_checks(
    failed, t, t_bits, t_boff, plate_len, plate_code, reg_id, reg_ok_d, conf, conf_bits, conf_boff,
    now, skew, max_age, first_failing,
):  # fmt: skip
    """Reason code per row and the good rows (in row order). ``failed`` holds the bits of the checks already made
    (missing read id or camera); time, plate, region and confidence are checked here."""
    n = failed.size
    reason = np.empty(n, np.uint8)
    good = np.empty(n, np.int64)
    ng = 0
    for i in range(n):
        f = failed[i]
        if not is_valid(t_bits, t_boff, i):
            f |= MISSING_TIME_BIT
        else:
            if t[i] > now + skew:
                f |= TIME_IN_FUTURE_BIT
            if t[i] < now - max_age:
                f |= TIME_TOO_OLD_BIT
        if plate_len[i] == 0:
            f |= MISSING_PLATE_BIT
        if plate_code[i] == 0:  # a valid plate never packs to 0: it has at least one non-zero symbol
            f |= BAD_PLATE_BIT
        if not reg_ok_d[reg_id[i]]:
            f |= BAD_REGION_BIT
        c = conf[i] if is_valid(conf_bits, conf_boff, i) else np.float32(0)
        if c < 0 or c > 100 or c != c:
            f |= BAD_CONFIDENCE_BIT
        r = first_failing[f]
        reason[i] = r
        if r == 0:
            good[ng] = i
            ng += 1
    return reason, good[:ng]
