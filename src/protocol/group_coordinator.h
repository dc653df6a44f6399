/* protocol/group_coordinator.h — FindCoordinator for a consumer group, in
 * every version: the group id is the `key` of v0-3 and the one entry of
 * `coordinator_keys` in v4+, and the answer is read from the matching
 * fields. Shared by the committer (consumer/offsets.c) and `gregor groups`.
 *
 * Threading: pure functions.
 */
#ifndef GREGOR_PROTOCOL_GROUP_COORDINATOR_H
#define GREGOR_PROTOCOL_GROUP_COORDINATOR_H

#include <stdint.h>

#include "gregor/error.h"
#include "protocol/gen/find_coordinator.h"
#include "util/buf.h"

/* Writes the body of a FindCoordinator request for group `group` (borrowed,
 * NUL-terminated) at `version`. Returns the writer's error. */
gregor_err proto_group_coordinator_encode(buf_writer *w, int16_t version, const char *group);

/* The coordinator's node id from a decoded answer at `version`: the broker's
 * error, or MALFORMED when a v4+ answer does not hold exactly one
 * coordinator. */
gregor_err proto_group_coordinator_node(const proto_find_coordinator_response *m, int16_t version,
                                        int32_t *node) GREGOR_MUST_CHECK;

#endif
