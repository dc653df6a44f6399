/* framework/swarm_proto.h — what a swarm supervisor (swarm.c) and its
 * worker processes (swarm_child.c) share.
 *
 * The hand-over: the supervisor starts each child as
 *   /proc/self/exe run [options] FILE
 * with GREGOR_SWARM="SLOT:SOCKFD:REGIONFD:REGIONBYTES:CONFIGFD" in its
 * environment: SOCKFD one end of a SOCK_STREAM socketpair, REGIONFD a memfd
 * of REGIONBYTES holding the region below, CONFIGFD a memfd holding FILE's
 * text as the supervisor validated it (the child parses that, not the file
 * on disk, which may have changed since: a rejected SIGHUP must not break
 * the children's restarts). These three are inherited, nothing else is.
 *
 * The socket carries frames: u32 length (of what follows, big-endian), u8
 * type, payload.
 *   child -> supervisor  FW_FRAME_HEARTBEAT every FW_SWARM_HEARTBEAT_MS:
 *                        u8 ready (every pipeline has joined its group),
 *                        then this process's metrics text (may be empty)
 *   supervisor -> child  FW_FRAME_CRASHES: the crash table
 *                        (fw_crash_encode), after each change and first
 *                        thing to a new child
 * A frame longer than FW_FRAME_MAX_BYTES is a protocol error: the reader
 * drops the connection (the supervisor kills the child).
 *
 * The region (MAP_SHARED) is written by the child and read by the
 * supervisor, also after the child died:
 *   fw_swarm_region_head, then n_pipelines int64 last-poll times (CLOCK_MONOTONIC
 *   ms; 0 before the first poll), then n_slots fw_swarm_slot.
 * A slot belongs to one worker thread (the first n_slots handler threads
 * of the process claim one each): it describes the handler call running
 * now; busy_since_ms (written last, release) is 0 when idle. CLOCK_MONOTONIC
 * is the same for every process of the machine, so the supervisor compares
 * it with its own clock.
 */
#ifndef GREGOR_FRAMEWORK_SWARM_PROTO_H
#define GREGOR_FRAMEWORK_SWARM_PROTO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "framework/config.h"
#include "framework/swarm_crash.h"

#define FW_SWARM_ENV "GREGOR_SWARM"
#define FW_SWARM_HEARTBEAT_MS 1000
#define FW_FRAME_MAX_BYTES ((size_t)64 << 20)
#define FW_SWARM_REGION_MAGIC 0x67725357u /* "grSW" */

enum { FW_FRAME_HEARTBEAT = 'H', FW_FRAME_CRASHES = 'C' };

typedef struct fw_swarm_region_head {
    uint32_t magic;
    uint32_t n_pipelines;
    uint32_t n_slots;
    uint32_t pad;
} fw_swarm_region_head;

typedef struct fw_swarm_slot {
    _Atomic int64_t busy_since_ms;   /* 0: idle */
    int32_t pipeline;                /* index in the config */
    int32_t partition;
    int64_t first_offset, last_offset;
    char topic[FW_CRASH_NAME_MAX];
} fw_swarm_slot;

/* The region's size for cfg: a slot per handler thread. */
size_t fw_swarm_region_bytes(const fw_config *cfg);
/* Its number of slots for cfg. */
size_t fw_swarm_region_n_slots(const fw_config *cfg);
/* The parts of a region laid out for cfg. The layout comes from cfg, never
 * from the head's counts: the supervisor reads the region of a child that
 * may have died of memory corruption, and trusts nothing in it but data
 * it checks (the head's counts are for a reader without the config). */
_Atomic int64_t *fw_swarm_region_polls(fw_swarm_region_head *h);
fw_swarm_slot *fw_swarm_region_slots(fw_swarm_region_head *h, const fw_config *cfg);

/* Writes one whole frame on a socket (blocking, bounded by its
 * SO_SNDTIMEO; never SIGPIPE). IO (errno kept) when the peer is gone or
 * the timeout passed. Thread: one writer per socket at a time. */
gregor_err fw_frame_write(int fd, uint8_t type, const void *payload, size_t len) GREGOR_MUST_CHECK;

/* Accumulates a non-blocking stream's bytes into frames. */
typedef struct fw_frame_reader {
    uint8_t *buf;
    size_t len, cap;
    size_t delivered; /* bytes of the frame last handed out, dropped at the next call */
} fw_frame_reader;

void fw_frame_reader_fini(fw_frame_reader *r);
/* Reads what socket `fd` has now (without blocking). OK (maybe nothing), DISCONNECTED at EOF, IO on
 * an error, NOMEM. */
gregor_err fw_frame_reader_fill(fw_frame_reader *r, int fd) GREGOR_MUST_CHECK;
/* The next complete frame: OK with *type, *payload (valid until the next
 * call) and *len; TRUNCATED when none is complete yet;
 * TOO_LARGE when the next frame's length is above FW_FRAME_MAX_BYTES. */
gregor_err fw_frame_next(fw_frame_reader *r, uint8_t *type, const uint8_t **payload, size_t *len) GREGOR_MUST_CHECK;

#endif
