/* framework/swarm_watch.h — the swarm supervisor's watchdog verdict on one
 * running worker process (swarm.h): from the time of its last heartbeat and
 * what its shared region (swarm_proto.h) says about its members' polls and
 * its handler calls, whether it must be stopped, and why.
 *
 * Threading: pure (reads the region; the child writes it concurrently,
 * each field atomically or, for a slot's description, before its
 * busy_since_ms: a torn description only changes the text of `why`).
 */
#ifndef GREGOR_FRAMEWORK_SWARM_WATCH_H
#define GREGOR_FRAMEWORK_SWARM_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "framework/config.h"
#include "framework/swarm_proto.h"

typedef enum fw_watch_verdict {
    FW_WATCH_OK = 0,
    FW_WATCH_NO_HEARTBEAT,    /* none for swarm.heartbeat_timeout_ms */
    FW_WATCH_NO_POLL,         /* a member has not polled for its max_poll_interval_ms */
    FW_WATCH_HANDLER_TIMEOUT, /* a handler call has run past its pipeline's handler_timeout_ms */
} fw_watch_verdict;

/* The verdict on a child running `cfg` (borrowed), whose last heartbeat
 * came at last_heartbeat_ms, at `now` (CLOCK_MONOTONIC ms). `h` may be a
 * region the child has not set up yet (magic not written): only the
 * heartbeat is judged then. Anything but OK writes the reason into `why`
 * ("no heartbeat for 3025 ms (swarm.heartbeat_timeout_ms 3000)", ...). */
fw_watch_verdict fw_swarm_watch(const fw_config *cfg, fw_swarm_region_head *h, int64_t last_heartbeat_ms,
                                int64_t now, char *why, size_t why_size);

#endif
