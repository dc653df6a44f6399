/* consumer/chunk.c — one partition's fetched records turned into a batch of
 * gregor_message views, and the refcounted fetch buffers behind them.
 *
 * Uncompressed records point into the Fetch response frame (`fetch_buf`,
 * shared by every batch decoded from that response). A compressed batch
 * or wrapper is decompressed by the record reader into its scratch buffer;
 * the batch takes that buffer over (one allocation per compressed batch)
 * before the reader could reuse it, so every view stays valid for the life
 * of the gregor_batch and nothing is copied twice.
 *
 * Memory: the frame and each batch's own allocations are counted in the
 * consumer's fetch_mem account (fetch_mem.c) until they are freed.
 *
 * Transactions (read_committed): the response lists the aborted
 * transactions (producer id, first offset) in its range. A producer id
 * becomes "aborted" once a batch reaches that first offset and stays so
 * until its ABORT marker; its transactional records in between are left
 * out (the algorithm of Java's FetchCollector). Control records never
 * reach the application.
 *
 * Workload: runs on the loop thread for every partition of every Fetch
 * response, so the per-record path is a reader step and a struct fill.
 */
#include <stdlib.h>
#include <string.h>

#include "consumer/consumer_int.h"
#include "protocol/records.h"

fetch_buf *fetch_buf_new(uint8_t *frame, size_t frame_bytes, fetch_mem *mem)
{
    fetch_buf *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->frame = frame;
    b->bytes = frame_bytes + sizeof *b;
    b->mem = fetch_mem_ref(mem);
    fetch_mem_add(mem, b->bytes);
    return b;
}

fetch_buf *fetch_buf_ref(fetch_buf *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void fetch_buf_unref(fetch_buf *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(b->frame);
    fetch_mem_release(b->mem, b->bytes);
    fetch_mem_unref(b->mem);
    free(b);
}

void gregor_batch_destroy(gregor_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_zbufs; i++)
        free(b->zbufs[i]);
    free(b->zbufs);
    free(b->msgs);
    free(b->hdrs);
    if (b->buf)
        fetch_mem_release(b->buf->mem, b->held);
    fetch_buf_unref(b->buf);
    free(b);
}

size_t gregor_batch_count(const gregor_batch *b) { return b ? b->n_msgs : 0; }

const gregor_message *gregor_batch_message(const gregor_batch *b, size_t i)
{
    return b && i < b->n_msgs ? &b->msgs[i] : NULL;
}

const char *gregor_batch_topic(const gregor_batch *b) { return b->topic; }

int32_t gregor_batch_partition(const gregor_batch *b) { return b->partition; }

int64_t gregor_batch_next_offset(const gregor_batch *b) { return b->next_offset; }

int32_t gregor_batch_leader_epoch(const gregor_batch *b) { return b->next_epoch; }

size_t gregor_batch_bytes(const gregor_batch *b)
{
    size_t bytes = 0;
    for (size_t i = 0; i < b->n_msgs; i++) {
        const gregor_message *m = &b->msgs[i];
        bytes += (size_t)(m->key_len > 0 ? m->key_len : 0) + (size_t)(m->value_len > 0 ? m->value_len : 0);
        for (size_t h = 0; h < m->header_count; h++)
            bytes += m->headers[h].key_len + (size_t)(m->headers[h].value_len > 0 ? m->headers[h].value_len : 0);
    }
    return bytes;
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

/* ------------------------------------------------------ transactions */

typedef struct aborted {
    int64_t pid;
    int64_t first;
} aborted;

typedef struct txn_filter {
    aborted *list; /* sorted by first offset */
    int32_t n, next;
    int64_t *active; /* producer ids inside an aborted transaction */
    int32_t n_active;
} txn_filter;

static int cmp_aborted(const void *a, const void *b)
{
    const aborted *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static bool txn_init(txn_filter *f, const chunk_input *in)
{
    memset(f, 0, sizeof *f);
    if (!in->read_committed || in->n_aborted <= 0)
        return true;
    f->list = malloc((size_t)in->n_aborted * sizeof *f->list);
    f->active = malloc((size_t)in->n_aborted * sizeof *f->active);
    if (!f->list || !f->active)
        return false;
    for (int32_t i = 0; i < in->n_aborted; i++)
        f->list[i] = (aborted){in->aborted[i].producer_id, in->aborted[i].first_offset};
    qsort(f->list, (size_t)in->n_aborted, sizeof *f->list, cmp_aborted);
    f->n = in->n_aborted;
    return true;
}

static void txn_fini(txn_filter *f)
{
    free(f->list);
    free(f->active);
}

static int32_t txn_find(const txn_filter *f, int64_t pid)
{
    for (int32_t i = 0; i < f->n_active; i++)
        if (f->active[i] == pid)
            return i;
    return -1;
}

/* True when `rec` must be left out as part of an aborted transaction;
 * also tracks the aborted producers as their markers pass. */
static bool txn_skip(txn_filter *f, const proto_record *rec)
{
    if (!f->n)
        return false;
    while (f->next < f->n && f->list[f->next].first <= rec->batch_last_offset) {
        if (txn_find(f, f->list[f->next].pid) < 0)
            f->active[f->n_active++] = f->list[f->next].pid;
        f->next++;
    }
    int32_t i = txn_find(f, rec->producer_id);
    if (i < 0)
        return false;
    if (rec->is_control && rec->control_type == PROTO_CONTROL_ABORT)
        f->active[i] = f->active[--f->n_active];
    return rec->is_transactional;
}

/* ------------------------------------------------------------ decode */

static gregor_err add_record(gregor_batch *b, const proto_record *rec)
{
    if (!grow((void **)&b->msgs, &b->cap_msgs, b->n_msgs + 1, sizeof *b->msgs))
        return GREGOR_ERR_NOMEM;
    gregor_message *m = &b->msgs[b->n_msgs++];
    m->topic = b->topic;
    m->partition = b->partition;
    m->offset = rec->offset;
    m->timestamp_ms = rec->timestamp;
    m->timestamp_type = (int8_t)rec->timestamp_type;
    m->key = rec->key.len < 0 ? NULL : rec->key.ptr;
    m->key_len = rec->key.len;
    m->value = rec->value.len < 0 ? NULL : rec->value.ptr;
    m->value_len = rec->value.len;
    /* The header array may still move: keep the index, fix up at the end. */
    m->headers = (const gregor_header *)(uintptr_t)b->n_hdrs;
    m->header_count = 0;
    if (rec->header_count <= 0)
        return GREGOR_OK;
    if (!grow((void **)&b->hdrs, &b->cap_hdrs, b->n_hdrs + (size_t)rec->header_count, sizeof *b->hdrs))
        return GREGOR_ERR_NOMEM;
    proto_header_iter it;
    proto_header h;
    proto_header_iter_init(&it, rec);
    while (proto_header_iter_next(&it, &h)) {
        b->hdrs[b->n_hdrs++] = (gregor_header){(const char *)h.key.ptr, (size_t)h.key.len,
                                               h.value.len < 0 ? NULL : h.value.ptr, h.value.len};
        m->header_count++;
    }
    return GREGOR_OK;
}

/* Takes the reader's decompression buffer when the record came from it. */
static gregor_err keep_decompressed(gregor_batch *b, proto_record_reader *r)
{
    /* Room first: once taken, the buffer must not be lost to a failed grow. */
    if (!grow((void **)&b->zbufs, &b->cap_zbufs, b->n_zbufs + 1, sizeof *b->zbufs))
        return GREGOR_ERR_NOMEM;
    size_t bytes;
    uint8_t *z = proto_record_reader_take_decompressed(r, &bytes);
    if (z) { /* NULL: already taken for this compressed batch */
        b->zbufs[b->n_zbufs++] = z;
        b->held += bytes;
    }
    return GREGOR_OK;
}

gregor_err chunk_build(const chunk_input *in, fetch_buf *buf, gregor_batch **out, int64_t *next_offset,
                       size_t *partial_size, const char **what, int64_t *err_offset)
{
    size_t tlen = strlen(in->topic);
    gregor_batch *b = calloc(1, sizeof *b + tlen + 1);
    if (!b)
        return GREGOR_ERR_NOMEM;
    memcpy(b->topic, in->topic, tlen + 1);
    b->partition = in->partition;
    b->next_epoch = -1;
    b->buf = buf ? fetch_buf_ref(buf) : NULL;
    txn_filter f;
    gregor_err err = GREGOR_ERR_NOMEM;
    if (!txn_init(&f, in))
        goto out_txn;
    proto_reader_opts opts = {.min_offset = in->fetch_offset, .skip_crc = !in->check_crcs};
    proto_record_reader r;
    proto_record_reader_init(&r, in->records, in->records_len, &opts);
    for (;;) {
        proto_record rec;
        bool got;
        if ((err = proto_record_reader_next(&r, &rec, &got)) != GREGOR_OK) {
            *what = r.what;
            *err_offset = r.err_offset;
            break;
        }
        if (!got)
            break;
        b->next_epoch = rec.leader_epoch;
        if (rec.codec != PROTO_CODEC_NONE && (err = keep_decompressed(b, &r)) != GREGOR_OK)
            break;
        if (txn_skip(&f, &rec) || rec.is_control)
            continue;
        if ((err = add_record(b, &rec)) != GREGOR_OK)
            break;
    }
    *next_offset = r.next_offset;
    *partial_size = r.consumed < in->records_len ? r.partial_size : 0;
    proto_record_reader_fini(&r);
    for (size_t i = 0; i < b->n_msgs; i++) {
        gregor_message *m = &b->msgs[i];
        m->headers = m->header_count ? b->hdrs + (uintptr_t)m->headers : NULL;
    }
out_txn:
    txn_fini(&f);
    if (err != GREGOR_OK) {
        gregor_batch_destroy(b);
        return err;
    }
    b->next_offset = *next_offset;
    /* The decompression buffers are in `held` already; add the rest. */
    b->held += sizeof *b + tlen + 1 + b->cap_msgs * sizeof *b->msgs + b->cap_hdrs * sizeof *b->hdrs +
               b->cap_zbufs * sizeof *b->zbufs;
    fetch_mem_add(buf ? buf->mem : NULL, b->held);
    *out = b;
    return GREGOR_OK;
}
