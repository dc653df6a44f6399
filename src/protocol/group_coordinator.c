/* protocol/group_coordinator.c — FindCoordinator for a group (see the header). */
#include <string.h>

#include "protocol/group_coordinator.h"

gregor_err proto_group_coordinator_encode(buf_writer *w, int16_t version, const char *group)
{
    buf_slice key = buf_slice_of(group, strlen(group));
    proto_find_coordinator_request m;
    proto_find_coordinator_request_init(&m);
    m.key = key;
    m.key_type = 0; /* a group */
    m.coordinator_keys = &key;
    m.coordinator_keys_count = 1;
    return proto_find_coordinator_request_encode(w, version, &m);
}

gregor_err proto_group_coordinator_node(const proto_find_coordinator_response *m, int16_t version, int32_t *node)
{
    gregor_err err;
    if (version >= 4) {
        err = m->coordinators_count == 1 ? gregor_err_from_broker(m->coordinators[0].error_code)
                                         : GREGOR_ERR_MALFORMED;
        if (err == GREGOR_OK)
            *node = m->coordinators[0].node_id;
    } else if ((err = gregor_err_from_broker(m->error_code)) == GREGOR_OK) {
        *node = m->node_id;
    }
    return err;
}
