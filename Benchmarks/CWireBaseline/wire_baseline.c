#include "wire_baseline.h"

#include <string.h>

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline void wr16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint16_t fold(uint64_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

// RFC 1624 eqn. 3; at an odd offset the field's contribution is byte-swapped.
static inline uint16_t csum_update(uint16_t hc, uint16_t old, uint16_t new, int odd) {
    if (odd) {
        old = (uint16_t)((old << 8) | (old >> 8));
        new = (uint16_t)((new << 8) | (new >> 8));
    }
    uint64_t s = (uint16_t)~hc;
    s += (uint16_t)~old;
    s += new;
    return (uint16_t)~fold(s);
}

int wire_baseline_rewrite(uint8_t *buf, size_t *len, size_t cap, uint16_t ceiling4, uint16_t ceiling6,
                          int insert_missing) {
    size_t n = *len;
    size_t ip_len, tcp_off;
    int v4, first_frag = 0;
    uint16_t ceiling;
    if (n < 1) return WIRE_MALFORMED;
    switch (buf[0] >> 4) {
    case 4: {
        if (n < 20) return WIRE_MALFORMED;
        size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
        if (ihl < 20 || ihl > n) return WIRE_MALFORMED;
        ip_len = rd16(buf + 2);
        if (ip_len < ihl || ip_len > n) return WIRE_MALFORMED;
        uint16_t frag = rd16(buf + 6);
        if (frag & 0x1fff) return WIRE_FRAGMENT;
        if (buf[9] != 6) return WIRE_NOT_TCP;
        first_frag = (frag & 0x2000) != 0;
        tcp_off = ihl;
        v4 = 1;
        ceiling = ceiling4;
        break;
    }
    case 6: {
        if (n < 40) return WIRE_MALFORMED;
        size_t payload = rd16(buf + 4);
        if (payload == 0 || 40 + payload > n) return WIRE_MALFORMED;
        ip_len = 40 + payload;
        uint8_t next = buf[6];
        size_t off = 40;
        for (;;) {
            if (next == 0 || next == 43 || next == 60) {
                if (off + 8 > ip_len) return WIRE_MALFORMED;
                size_t hl = ((size_t)buf[off + 1] + 1) * 8;
                if (off + hl > ip_len) return WIRE_MALFORMED;
                next = buf[off];
                off += hl;
            } else if (next == 44) {
                if (off + 8 > ip_len) return WIRE_MALFORMED;
                uint16_t fo = rd16(buf + off + 2);
                if (fo & 0xfff8) return WIRE_FRAGMENT;
                if (fo & 1) first_frag = 1;
                next = buf[off];
                off += 8;
            } else {
                break;
            }
        }
        if (next != 6) return WIRE_NOT_TCP;
        tcp_off = off;
        v4 = 0;
        ceiling = ceiling6;
        break;
    }
    default:
        return WIRE_MALFORMED;
    }
    size_t seg_len = ip_len - tcp_off;
    if (seg_len < 20) return first_frag ? WIRE_FRAGMENT : WIRE_MALFORMED;
    uint8_t *tcp = buf + tcp_off;
    size_t thl = (size_t)(tcp[12] >> 4) * 4;
    if (thl < 20 || thl > seg_len) return WIRE_MALFORMED;
    if (!(tcp[13] & 0x02) || (tcp[13] & 0x04)) return WIRE_NOT_SYN;

    // First pass, as the receiver reads the options (Linux tcp_parse_options): up to EOL or the first
    // option that cannot be walked. Count the well-formed MSS options (kind 2, length 4) and the highest;
    // an MSS of another length is a problem but the receiver reads on.
    size_t i = 20, end = thl;
    int mss_count = 0, problem = 0;
    uint16_t highest = 0;
    while (i < thl) {
        uint8_t kind = tcp[i];
        if (kind == 0) {
            end = i;
            break;
        }
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= thl) {
            problem = 1;
            end = i;
            break;
        }
        size_t ol = tcp[i + 1];
        if (ol < 2 || i + ol > thl) {
            problem = 1;
            end = i;
            break;
        }
        if (kind == 2) {
            if (ol != 4) {
                problem = 1;
            } else {
                uint16_t v = rd16(tcp + i + 2);
                mss_count++;
                if (v > highest) highest = v;
            }
        }
        i += ol;
    }

    if (mss_count == 0) {
        if (problem) return WIRE_MALFORMED;
        if (!insert_missing || first_frag || seg_len != thl || thl + 4 > 60) return WIRE_MISSING_MSS;
        size_t new_len = ip_len + 4;
        if (new_len > cap || new_len > 0xffff) return WIRE_MISSING_MSS;
        uint16_t mss = ceiling < (v4 ? 536 : 1220) ? ceiling : (v4 ? 536 : 1220);
        uint16_t old_word = rd16(tcp + 12);
        memmove(tcp + 24, tcp + 20, thl - 20);
        tcp[20] = 2;
        tcp[21] = 4;
        wr16(tcp + 22, mss);
        tcp[12] = (uint8_t)((((thl + 4) / 4) << 4) | (tcp[12] & 0x0f));
        uint16_t new_word = rd16(tcp + 12);
        if (v4) {
            wr16(buf + 2, (uint16_t)new_len);
            wr16(buf + 10, csum_update(rd16(buf + 10), (uint16_t)ip_len, (uint16_t)new_len, 0));
        } else {
            wr16(buf + 4, (uint16_t)(new_len - 40));
        }
        uint16_t c = rd16(tcp + 16);
        c = csum_update(c, (uint16_t)seg_len, (uint16_t)(seg_len + 4), 0);
        c = csum_update(c, old_word, new_word, 0);
        c = csum_update(c, 0, 0x0204, 0);
        c = csum_update(c, 0, mss, 0);
        wr16(tcp + 16, c);
        *len = new_len;
        return WIRE_INSERTED;
    }
    if (highest <= ceiling) return problem ? WIRE_MALFORMED : WIRE_ALREADY_LOW;

    // Second pass over the options the first pass walked: lower every well-formed MSS above the ceiling.
    uint16_t c = rd16(tcp + 16);
    i = 20;
    while (i < end) {
        uint8_t kind = tcp[i];
        if (kind == 0) break;
        if (kind == 1) {
            i++;
            continue;
        }
        size_t ol = tcp[i + 1];
        if (kind == 2 && ol == 4) {
            uint16_t v = rd16(tcp + i + 2);
            if (v > ceiling) {
                wr16(tcp + i + 2, ceiling);
                c = csum_update(c, v, ceiling, (int)((i + 2) & 1));
            }
        }
        i += ol;
    }
    wr16(tcp + 16, c);
    return problem ? WIRE_MALFORMED : WIRE_CLAMPED;
}
