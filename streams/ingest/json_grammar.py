"""JSON grammar for the compiled scanner (``streams.ingest.json_scan``), on a raw byte pointer.

Each function starts at an index of ``buf`` and returns where the thing it read ends, or -1 where the bytes are not
that JSON (or are JSON the scanner declines: escapes, control or non-ASCII bytes, nesting over ``MAX_DEPTH``). Every
read is bounds-checked against ``end``, the end of the event: the pointer is not.
"""

from __future__ import annotations

from streams.core.compiled.jit import inline, jit

__all__ = [
    "MAX_DEPTH", "digits_end", "literal_end", "member", "member_value", "next_member", "number_end", "skip_value",
    "skip_ws", "string_end",
]  # fmt: skip

MAX_DEPTH = 32  # containers open at once in a skipped value


@inline
def skip_ws(buf, i, end):
    while i < end:
        c = buf[i]
        if c != 32 and c != 9 and c != 10 and c != 13:
            break
        i += 1
    return i


@inline
def string_end(buf, i, end):
    """``buf[i]`` opens a string: the index of its closing quote, or -1 (a backslash, control or non-ASCII byte, or
    no end)."""
    i += 1
    while i < end:
        c = buf[i]
        if 35 <= c <= 127 and c != 92:  # the common case first: one range test per byte
            i += 1
        elif c == 34 or c == 32 or c == 33:
            if c == 34:
                return i
            i += 1
        else:
            return -1
    return -1


@inline
def digits_end(buf, i, end):
    while i < end and 48 <= buf[i] <= 57:
        i += 1
    return i


@inline
def number_end(buf, i, end):
    """The end of the JSON number at ``i`` (-1 if none), whether it has a fraction, whether an exponent."""
    j = i
    if j < end and buf[j] == 45:
        j += 1
    if j >= end or not 48 <= buf[j] <= 57:
        return -1, False, False
    j = j + 1 if buf[j] == 48 else digits_end(buf, j, end)
    frac = False
    if j < end and buf[j] == 46:
        k = digits_end(buf, j + 1, end)
        if k == j + 1:
            return -1, False, False
        j, frac = k, True
    exp = False
    if j < end and (buf[j] == 101 or buf[j] == 69):
        j += 1
        if j < end and (buf[j] == 43 or buf[j] == 45):
            j += 1
        k = digits_end(buf, j, end)
        if k == j:
            return -1, False, False
        j, exp = k, True
    return j, frac, exp


@inline
def literal_end(buf, i, end):
    """The end of ``true``, ``false`` or ``null`` at ``i``, or -1."""
    c = buf[i]
    if c == 102:  # false
        if i + 5 <= end and buf[i + 1] == 97 and buf[i + 2] == 108 and buf[i + 3] == 115 and buf[i + 4] == 101:
            return i + 5
        return -1
    if i + 4 > end:
        return -1
    if c == 116 and buf[i + 1] == 114 and buf[i + 2] == 117 and buf[i + 3] == 101:  # true
        return i + 4
    if c == 110 and buf[i + 1] == 117 and buf[i + 2] == 108 and buf[i + 3] == 108:  # null
        return i + 4
    return -1


@inline
def member(buf, i, end):
    """At a member's key in an object: the index of the key's closing quote and of its value, or (-1, -1)."""
    if i >= end or buf[i] != 34:
        return -1, -1
    k = string_end(buf, i, end)
    if k < 0:
        return -1, -1
    v = skip_ws(buf, k + 1, end)
    if v >= end or buf[v] != 58:
        return -1, -1
    v = skip_ws(buf, v + 1, end)
    return (k, v) if v < end else (-1, -1)


@inline
def member_value(buf, i, end):
    """At a member's key in an object: the index of its value, or -1."""
    return member(buf, i, end)[1]


@jit
def skip_value(buf, i, end, stack):
    """The end of the JSON value at ``i``, its grammar checked throughout; -1 if it is not JSON (or too deep)."""
    depth = 0
    while True:
        i = skip_ws(buf, i, end)
        if i >= end:
            return -1
        c = buf[i]
        closed = True  # a whole value has been read (false: a container was opened and its first value is next)
        if c == 123 or c == 91:
            if depth == MAX_DEPTH:
                return -1
            i = skip_ws(buf, i + 1, end)
            if i >= end:
                return -1
            if buf[i] == c + 2:  # "{}" or "[]"
                i += 1
            else:
                stack[depth] = c
                depth += 1
                closed = False
                if c == 123:
                    i = member_value(buf, i, end)
                    if i < 0:
                        return -1
        elif c == 34:
            k = string_end(buf, i, end)
            if k < 0:
                return -1
            i = k + 1
        elif c == 116 or c == 102 or c == 110:
            i = literal_end(buf, i, end)
            if i < 0:
                return -1
        else:
            i, _, _ = number_end(buf, i, end)
            if i < 0:
                return -1
        while closed:
            if depth == 0:
                return i
            i = skip_ws(buf, i, end)
            if i >= end:
                return -1
            c, top = buf[i], stack[depth - 1]
            if c == 44:
                i = skip_ws(buf, i + 1, end)
                if top == 123:
                    i = member_value(buf, i, end)
                    if i < 0:
                        return -1
                closed = False
            elif c == top + 2:
                depth -= 1
                i += 1
            else:
                return -1


@inline
def next_member(buf, i, end):
    """After a member's value: (index of the next key or -1, whether the object goes on); -1 also for bad JSON."""
    i = skip_ws(buf, i, end)
    if i >= end:
        return -1, False
    if buf[i] == 44:
        return skip_ws(buf, i + 1, end), True
    if buf[i] == 125:
        return i + 1, False
    return -1, False
