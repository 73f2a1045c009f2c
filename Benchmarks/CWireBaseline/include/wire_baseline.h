// A plain C implementation of the MSS rewrite, the baseline `scripts/bench wire` compares MSSWire against.
// Same semantics as MSSRewrite.rewrite: every MSS option the receiver reads (up to EOL or the first option
// that cannot be walked) above the ceiling is lowered, none is raised, a malformed packet is reported as
// WIRE_MALFORMED whether or not an MSS before the malformation was lowered,
// checksums are updated incrementally (RFC 1624 eqn. 3, byte-swapped at odd offsets), a missing option is
// inserted (min(ceiling, 536/1220)) when the SYN has no payload and the header has room.
#ifndef WIRE_BASELINE_H
#define WIRE_BASELINE_H

#include <stddef.h>
#include <stdint.h>

// Outcome codes, in the order of MSSWire.OutcomeKind.
enum wire_outcome {
    WIRE_CLAMPED = 0,
    WIRE_INSERTED,
    WIRE_ALREADY_LOW,
    WIRE_EXEMPT,
    WIRE_MISSING_MSS,
    WIRE_NOT_SYN,
    WIRE_NOT_TCP,
    WIRE_FRAGMENT,
    WIRE_MALFORMED,
};

// Rewrites the IP packet in buf (length *len, capacity cap) in place; *len grows by 4 on insertion.
int wire_baseline_rewrite(uint8_t *buf, size_t *len, size_t cap, uint16_t ceiling4, uint16_t ceiling6,
                          int insert_missing);

// Malloc accounting for the benchmark: counts calls to malloc/calloc/realloc while enabled.
void wire_malloc_count_enable(int on);
uint64_t wire_malloc_count(void);

#endif
