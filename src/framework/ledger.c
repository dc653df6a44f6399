/* framework/ledger.c — the offset ledger (ledger.h): a ring of (offset,
 * finished) entries in offset order; finished entries leave from the head. */
#include <assert.h>
#include <stdlib.h>

#include "framework/ledger.h"

#define LEDGER_INITIAL_CAP 64

void fw_ledger_init(fw_ledger *l)
{
    *l = (fw_ledger){.end_offset = -1};
}

void fw_ledger_fini(fw_ledger *l)
{
    free(l->ring);
    *l = (fw_ledger){.end_offset = -1};
}

static fw_ledger_entry *entry(const fw_ledger *l, uint64_t seq)
{
    return &l->ring[seq & (l->cap - 1)];
}

/* Doubles the ring, keeping entries at the same sequence numbers. */
static gregor_err grow(fw_ledger *l)
{
    size_t cap = l->cap ? l->cap * 2 : LEDGER_INITIAL_CAP;
    fw_ledger_entry *ring = malloc(cap * sizeof *ring);
    if (!ring)
        return GREGOR_ERR_NOMEM;
    for (uint64_t s = l->head_seq; s < l->tail_seq; s++)
        ring[s & (cap - 1)] = *entry(l, s);
    free(l->ring);
    l->ring = ring;
    l->cap = cap;
    return GREGOR_OK;
}

gregor_err fw_ledger_push(fw_ledger *l, int64_t offset, uint64_t *seq)
{
    if (l->tail_seq - l->head_seq == l->cap) {
        gregor_err err = grow(l);
        if (err)
            return err;
    }
    *entry(l, l->tail_seq) = (fw_ledger_entry){.offset = offset};
    *seq = l->tail_seq++;
    if (offset + 1 > l->end_offset)
        l->end_offset = offset + 1;
    return GREGOR_OK;
}

void fw_ledger_set_end(fw_ledger *l, int64_t next_offset)
{
    if (next_offset > l->end_offset)
        l->end_offset = next_offset;
}

void fw_ledger_finish(fw_ledger *l, uint64_t seq)
{
    if (seq < l->head_seq || seq >= l->tail_seq)
        return;
    entry(l, seq)->finished = true;
    while (l->head_seq < l->tail_seq && entry(l, l->head_seq)->finished)
        l->head_seq++;
}

int64_t fw_ledger_committable(const fw_ledger *l)
{
    if (l->head_seq < l->tail_seq)
        return entry(l, l->head_seq)->offset;
    return l->end_offset;
}

size_t fw_ledger_unfinished(const fw_ledger *l)
{
    size_t n = 0;
    for (uint64_t s = l->head_seq; s < l->tail_seq; s++)
        n += !entry(l, s)->finished;
    return n;
}
