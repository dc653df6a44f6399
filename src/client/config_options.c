/* client/config_options.c — every gregor option: name, aliases, type,
 * default, range and one line of documentation. Keep sorted by layer. */
#include <stdio.h>
#include <string.h>

#include "client/config.h"
#include "net/versions.h"

static bool check_broker_version(const char *v, char *errstr, size_t n)
{
    int32_t rel;
    if (!strcmp(v, "auto") || net_versions_parse_release(v, &rel) == GREGOR_OK) {
        if (strcmp(v, "auto") && rel < 10000 && !net_versions_legacy(v)) {
            snprintf(errstr, n, "broker_version: '%s' predates 0.8.2, the oldest broker gregor supports", v);
            return false;
        }
        return true;
    }
    snprintf(errstr, n, "broker_version: '%s' is neither 'auto' nor a release like 0.8.2 or 3.9.1", v);
    return false;
}

const config_option config_options[] = {
    /* client and connections */
    {"bootstrap", "bootstrap.servers metadata.broker.list", CONFIG_STRING, "localhost:9092", 0, 0, NULL,
     "Comma-separated host:port list of brokers to start from", NULL},
    {"client_id", "client.id", CONFIG_STRING, "gregor", 0, 0, NULL,
     "Client id sent with every request", NULL},
    {"broker_version", "broker.version", CONFIG_STRING, "auto", 0, 0, NULL,
     "'auto' negotiates with ApiVersions; a release below 0.10 (0.8.2, 0.9.0) uses that "
     "release's fixed versions and sends no ApiVersions",
     check_broker_version},
    {"broker_version_fallback", "broker.version.fallback", CONFIG_STRING, "auto", 0, 0, NULL,
     "When a broker closes the connection on ApiVersions (a pre-0.10 broker): 'auto' detects "
     "0.8 or 0.9 with a probe; a release (0.8.2, 0.9.0) uses its versions without probing",
     check_broker_version},
    {"request_timeout_ms", "request.timeout.ms socket.timeout.ms", CONFIG_INT, "30000", 1, 3600000, NULL,
     "Time a request may wait for its response before it fails", NULL},
    {"connect_timeout_ms", "socket.connection.setup.timeout.ms", CONFIG_INT, "10000", 1, 3600000, NULL,
     "Time to establish a connection, including the ApiVersions handshake", NULL},
    {"reconnect_backoff_ms", "reconnect.backoff.ms", CONFIG_INT, "100", 1, 3600000, NULL,
     "First wait before reconnecting to a broker (doubles with each failure, +-20% jitter)", NULL},
    {"reconnect_backoff_max_ms", "reconnect.backoff.max.ms", CONFIG_INT, "10000", 1, 3600000, NULL,
     "Upper bound of the reconnect backoff", NULL},
    {"max_in_flight", "max.in.flight max.in.flight.requests.per.connection", CONFIG_INT, "5", 1, 1000, NULL,
     "Requests pipelined on one connection before waiting for responses", NULL},
    {"max_response_bytes", "receive.message.max.bytes", CONFIG_INT, "104857600", 1024, 2147483647, NULL,
     "Largest response accepted from a broker; a larger one closes the connection", NULL},
    {"metadata_refresh_ms", "topic.metadata.refresh.interval.ms metadata.max.age.ms", CONFIG_INT, "300000",
     10, 86400000, NULL, "Interval of periodic metadata refreshes", NULL},
    {"metadata_fast_refresh_ms", "topic.metadata.refresh.fast.interval.ms", CONFIG_INT, "250", 1, 60000,
     NULL, "Minimum gap between refreshes triggered by errors or missing leaders", NULL},
    {"allow_auto_create_topics", "allow.auto.create.topics", CONFIG_BOOL, "false", 0, 0, NULL,
     "Let Metadata requests create missing topics (broker setting permitting)", NULL},
    {"log_level", "log.level", CONFIG_ENUM, "warn", 0, 0, "debug|info|warn|error",
     "Threshold of the library's log messages", NULL},

    /* producer (src/producer) */
    {"acks", "request.required.acks", CONFIG_ENUM, "all", 0, 0, "all|-1|0|1",
     "Acknowledgements a produce needs: all (-1) in-sync replicas, the leader (1), none (0)", NULL},
    {"linger_ms", "linger.ms queue.buffering.max.ms", CONFIG_INT, "5", 0, 900000, NULL,
     "Time a partition's batch may wait for more messages before it is sent", NULL},
    {"batch_bytes", "batch.size", CONFIG_INT, "1048576", 1024, 1073741824, NULL,
     "Largest batch of one partition, before compression", NULL},
    {"max_request_bytes", "max.request.size message.max.bytes", CONFIG_INT, "1048576", 2048, 1073741824,
     NULL, "Largest Produce request (batches of several partitions to one broker)", NULL},
    {"buffer_bytes", "buffer.memory", CONFIG_INT, "33554432", 65536, 68719476736, NULL,
     "Memory for messages queued and in flight; produce waits (block_ms) or fails when it is used up",
     NULL},
    {"block_ms", "max.block.ms", CONFIG_INT, "0", 0, 3600000, NULL,
     "Time produce waits for buffer space before failing with QUEUE_FULL (0: fail at once)", NULL},
    {"delivery_timeout_ms", "delivery.timeout.ms message.timeout.ms", CONFIG_INT, "120000", 1, 2147483647,
     NULL, "Time a message may take, retries included, before it is reported failed", NULL},
    {"retries", "message.send.max.retries", CONFIG_INT, "2147483647", 0, 2147483647, NULL,
     "Times a failed batch is sent again (within delivery_timeout_ms)", NULL},
    {"retry_backoff_ms", "retry.backoff.ms", CONFIG_INT, "100", 1, 300000, NULL,
     "First wait before a retry (doubles with each retry of a batch)", NULL},
    {"retry_backoff_max_ms", "retry.backoff.max.ms", CONFIG_INT, "1000", 1, 300000, NULL,
     "Upper bound of the retry backoff", NULL},
    {"enable_idempotence", "enable.idempotence", CONFIG_BOOL, "true", 0, 0, NULL,
     "Producer id and sequences (0.11+ brokers, acks=all): retries write no duplicates, keep order. "
     "Left at the default, a broker without producer ids means a warning and no idempotence; set to "
     "true, it means an error", NULL},
    {"compression", "compression.type compression.codec", CONFIG_ENUM, "none", 0, 0,
     "none|gzip|snappy|lz4|zstd", "Codec for produced batches", NULL},
    {"compression_level", "compression.level", CONFIG_INT, "-1", -131072, 22, NULL,
     "Codec level (gzip 1-9, lz4 1-12, zstd -7..22); -1: the codec's default", NULL},
    {"partitioner", NULL, CONFIG_ENUM, "murmur2", 0, 0,
     "murmur2|murmur2_random|consistent|consistent_random|roundrobin",
     "Partition of keyed messages: murmur2 (the Java client's), consistent (CRC-32, librdkafka's), "
     "roundrobin; keyless messages stick to one partition until its batch is sent",
     NULL},

    /* consumer and offsets (src/consumer) */
    {"fetch_min_bytes", "fetch.min.bytes", CONFIG_INT, "1", 1, 104857600, NULL,
     "Bytes a Fetch waits for (up to fetch_max_wait_ms) before the broker answers", NULL},
    {"fetch_max_wait_ms", "fetch.wait.max.ms fetch.max.wait.ms", CONFIG_INT, "500", 0, 300000, NULL,
     "Longest time a broker holds a Fetch while fewer than fetch_min_bytes are available", NULL},
    {"fetch_max_bytes", "fetch.max.bytes", CONFIG_INT, "52428800", 1024, 2147483647, NULL,
     "Upper bound on the records of one Fetch response (Fetch v3+)", NULL},
    {"max_partition_fetch_bytes", "max.partition.fetch.bytes fetch.message.max.bytes", CONFIG_INT, "1048576",
     1024, 2147483647, NULL, "Records fetched per partition per Fetch (a larger first batch still comes whole)",
     NULL},
    {"prefetch_bytes", NULL, CONFIG_INT, "67108864", 1024, 2147483647, NULL,
     "Fetched data in memory per consumer, queued or in batches not yet destroyed; fetching pauses above it",
     NULL},
    {"fetch_error_backoff_ms", "fetch.error.backoff.ms", CONFIG_INT, "100", 1, 60000, NULL,
     "Wait before fetching a partition again after an error", NULL},
    {"auto_offset_reset", "auto.offset.reset", CONFIG_ENUM, "latest", 0, 0, "earliest|latest|error",
     "Where to go when the position is out of range or no offset is committed", NULL},
    {"isolation", "isolation.level", CONFIG_ENUM, "read_uncommitted", 0, 0, "read_uncommitted|read_committed",
     "read_committed skips aborted transactions and reads only up to the last stable offset", NULL},
    {"check_crcs", "check.crcs", CONFIG_BOOL, "true", 0, 0, NULL,
     "Verify the CRC of every fetched batch or message", NULL},
    {"group_id", "group.id", CONFIG_STRING, "", 0, 0, NULL,
     "Group whose committed offsets the consumer reads and writes (empty: none)", NULL},
    {"enable_auto_commit", "enable.auto.commit", CONFIG_BOOL, "true", 0, 0, NULL,
     "With group_id: commit consumed positions every auto_commit_interval_ms and on close", NULL},
    {"enable_auto_offset_store", "enable.auto.offset.store", CONFIG_BOOL, "true", 0, 0, NULL,
     "true: commits without offsets (automatic, commit(NULL), on close) take the consumed positions; false: "
     "the offsets the application stored with gregor_consumer_store_offset()",
     NULL},
    {"auto_commit_interval_ms", "auto.commit.interval.ms", CONFIG_INT, "5000", 10, 86400000, NULL,
     "Interval of automatic commits", NULL},
    {"commit_timeout_ms", "default.api.timeout.ms", CONFIG_INT, "30000", 1, 3600000, NULL,
     "Longest time a commit or committed-offset lookup retries (coordinator moves included)", NULL},
    {"group_protocol", "group.protocol", CONFIG_ENUM, "classic", 0, 0, "classic|consumer",
     "Group members: classic (JoinGroup/SyncGroup, client-side assignors) or consumer (KIP-848, Kafka 4.0+)",
     NULL},
    {"partition_assignment_strategy", "partition.assignment.strategy", CONFIG_STRING, "range,cooperative-sticky",
     0, 0, NULL,
     "Classic groups: assignors in order of preference (range, roundrobin, cooperative-sticky); the group uses "
     "the first every member supports, and rebalances cooperatively only when all listed are cooperative",
     NULL},
    {"session_timeout_ms", "session.timeout.ms", CONFIG_INT, "45000", 1, 3600000, NULL,
     "A group member not heard from for this long is removed from the group", NULL},
    {"heartbeat_interval_ms", "heartbeat.interval.ms", CONFIG_INT, "3000", 1, 3600000, NULL,
     "Interval of the heartbeats of a classic group member (KIP-848 members use the broker's)", NULL},
    {"max_poll_interval_ms", "max.poll.interval.ms", CONFIG_INT, "300000", 1, 86400000, NULL,
     "A group member whose application does not poll for this long leaves the group; also the longest "
     "rebalance it waits for",
     NULL},
    {"group_instance_id", "group.instance.id", CONFIG_STRING, "", 0, 0, NULL,
     "Static membership: a member restarted with the same id within session_timeout_ms keeps its partitions",
     NULL},
    {"client_rack", "client.rack", CONFIG_STRING, "", 0, 0, NULL, "The rack this client runs in (for assignors)",
     NULL},
    {"group_remote_assignor", "group.remote.assignor", CONFIG_STRING, "", 0, 0, NULL,
     "KIP-848 groups: the broker-side assignor to ask for (uniform, range; empty: the broker's default)", NULL},
};

const size_t config_option_count = sizeof config_options / sizeof config_options[0];
