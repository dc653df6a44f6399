/* framework/fwlog_events.c — the fields of a pipeline's log events
 * (fwlog.h): every event of a pipeline names it and its group; a
 * message's event adds its coordinates (topic, partition, offset, attempt)
 * and, only when the pipeline sets log_payloads, its value. */
#include "framework/pipeline.h"

fw_log_event fw_pl_ev(const fw_pipeline *pl, gregor_log_level level, const char *event)
{
    fw_log_event ev = fw_log_ev(level, event);
    ev.pipeline = pl->conf->name;
    ev.group = pl->conf->group;
    return ev;
}

fw_log_event fw_part_ev(const fw_pipeline *pl, const char *topic, int32_t partition, gregor_log_level level,
                        const char *event)
{
    fw_log_event ev = fw_pl_ev(pl, level, event);
    ev.topic = topic;
    ev.partition = partition;
    return ev;
}

fw_log_event fw_msg_ev(const fw_pipeline *pl, const fw_msg *msg, gregor_log_level level, const char *event)
{
    fw_log_event ev = fw_part_ev(pl, msg->m.topic, msg->m.partition, level, event);
    ev.offset = msg->m.offset;
    ev.attempt = msg->attempt;
    if (pl->conf->log_payloads) {
        ev.has_payload = true;
        ev.payload = msg->m.value;
        ev.payload_len = msg->m.value && msg->m.value_len > 0 ? (size_t)msg->m.value_len : 0;
    }
    return ev;
}
