/* framework/emit.c — the way out of a pipeline: a handler's emit becomes a
 * produce on its output's producer (the producer pool), charged to the
 * input message it came from (its `pending` count) so that the input is not
 * finished, hence not committed, before the brokers acknowledged the emit;
 * dead-letter produces; and the producer pool's delivery callback. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "framework/pipeline.h"
#include "util/errstr.h"

gregor_err fw_emit(gregor_ctx *ctx, int output_index, const gregor_emit_message *m, char *errstr,
                   size_t errstr_size)
{
    fw_emit_target *t = ctx->emit_arg;
    fw_pipeline *pl = t->pl;
    const fw_output_rt *out = &pl->outputs[output_index];
    const gregor_message *in = t->msg ? &t->msg->m : NULL;
    gregor_produce_message pm = {
        .topic = out->conf->topic, .partition = GREGOR_PARTITION_ANY,
        .key = m->key, .key_len = m->key_len, .value = m->value, .value_len = m->value_len,
        .headers = m->headers, .n_headers = m->n_headers, .timestamp_ms = m->timestamp_ms, .opaque = t->msg,
    };
    if (m->partition >= 0)
        pm.partition = m->partition;
    else if (out->conf->partition == FW_ROUTE_FIXED)
        pm.partition = out->conf->fixed_partition;
    else if (out->conf->partition == FW_ROUTE_INPUT)
        pm.partition = in ? in->partition : t->part->partition;
    if (out->conf->key == FW_KEY_INPUT && in) {
        pm.key = in->key;
        pm.key_len = in->key ? (size_t)in->key_len : 0;
    }
    if (t->msg)
        atomic_fetch_add(&t->msg->pending, 1);
    gregor_err err = gregor_producer_produce(out->producer, &pm);
    if (err) {
        if (t->msg)
            atomic_fetch_sub(&t->msg->pending, 1); /* the caller's own reference keeps it above 0 */
        errstr_set(errstr, errstr_size, "output %s (topic %s): %s", out->conf->name, out->conf->topic,
                   gregor_err_str(err));
        return err;
    }
    atomic_fetch_add(&pl->stats.emitted, 1);
    if (t->msg && t->msg->lane) /* the handler's call: its worker has the lane */
        fw_counter_add_1w(&t->msg->lane->emitted, 1);
    else
        atomic_fetch_add_explicit(&t->part->stats.fini_emitted, 1, memory_order_relaxed);
    return GREGOR_OK;
}

gregor_err fw_dead_letter(fw_pipeline *pl, fw_msg *msg, char *errstr, size_t errstr_size)
{
    const gregor_message *in = &msg->m;
    size_t n = in->header_count;
    gregor_header hs[n + 6];
    if (n)
        memcpy(hs, in->headers, n * sizeof *hs);
    char partition[16], offset[24], attempts[16];
    snprintf(partition, sizeof partition, "%d", (int)in->partition);
    snprintf(offset, sizeof offset, "%" PRId64, in->offset);
    snprintf(attempts, sizeof attempts, "%d", msg->attempt);
    const char *error = msg->error ? msg->error : "";
    const char *kv[][2] = {{"gregor.error", error},        {"gregor.topic", in->topic},
                           {"gregor.partition", partition}, {"gregor.offset", offset},
                           {"gregor.attempts", attempts},   {"gregor.pipeline", pl->conf->name}};
    for (size_t i = 0; i < 6; i++)
        hs[n++] = (gregor_header){.key = kv[i][0], .key_len = strlen(kv[i][0]), .value = kv[i][1],
                                  .value_len = (int32_t)strlen(kv[i][1])};
    gregor_produce_message pm = {
        .topic = pl->conf->dead_letter, .partition = GREGOR_PARTITION_ANY,
        .key = in->key, .key_len = in->key ? (size_t)in->key_len : 0,
        .value = in->value, .value_len = in->value ? (size_t)in->value_len : 0,
        .headers = hs, .n_headers = n, .timestamp_ms = in->timestamp_ms > 0 ? in->timestamp_ms : 0,
        .opaque = msg,
    };
    atomic_fetch_add(&msg->pending, 1);
    gregor_err err = gregor_producer_produce(pl->dlq_producer, &pm);
    if (err) {
        atomic_fetch_sub(&msg->pending, 1);
        errstr_set(errstr, errstr_size, "dead_letter topic %s: %s", pl->conf->dead_letter, gregor_err_str(err));
    }
    return err;
}

void fw_on_delivery(const gregor_delivery *d, void *arg)
{
    (void)arg;
    fw_msg *msg = d->opaque;
    if (!msg) {
        if (d->err) {
            fw_log_event ev = fw_log_ev(GREGOR_LOG_WARN, "emit_failed");
            ev.error = gregor_err_str(d->err);
            fw_log_emitf(&ev, "a message emitted by partition_fini to %s was not delivered", d->topic);
        }
        return;
    }
    fw_pipeline *pl = msg->chunk->part->pl;
    if (d->err) {
        char why[300];
        snprintf(why, sizeof why, "delivery to topic %s failed: %s", d->topic, gregor_err_str(d->err));
        pthread_mutex_lock(&pl->lock);
        msg->emit_failed = true;
        fw_msg_set_error(msg, why);
        pthread_mutex_unlock(&pl->lock);
    } else {
        atomic_fetch_add(&pl->stats.delivered, 1);
    }
    fw_msg_unref(pl, msg);
}
