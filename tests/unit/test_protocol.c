/* Unit: the generated protocol codecs.
 *
 * Known-good bytes written out by hand from the protocol guide for a few
 * messages in classic and flexible versions (compact types, tagged fields,
 * unknown tags skipped); then, for every message and every version, a round
 * trip of a message with every field set (encode, decode, encode again: the
 * bytes must be identical and fully consumed) and a truncation sweep (every
 * strict prefix fails cleanly with an error and the failing field's path).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/gen/api.h"
#include "protocol/gen/api_versions.h"
#include "protocol/gen/metadata.h"
#include "protocol/gen/registry.h"
#include "protocol/header.h"
#include "proto_samples.h"
#include "testutil.h"

static void assert_bytes(const buf_writer *w, const char *hex)
{
    size_t n;
    uint8_t *want = tu_hex(hex, &n);
    cr_assert_eq(w->err, GREGOR_OK);
    cr_assert_eq(w->len, n, "encoded %zu bytes, expected %zu", w->len, n);
    cr_assert(memcmp(w->data, want, n) == 0, "encoded bytes differ");
    free(want);
}

Test(protocol, metadata_request_v0_known_bytes)
{
    proto_metadata_request m;
    proto_metadata_request_init(&m);
    proto_metadata_request_topic t;
    proto_metadata_request_topic_init(&t);
    t.name = buf_slice_of("t1", 2);
    m.topics = &t;
    m.topics_count = 1;
    buf_writer w;
    buf_writer_init(&w, 1024);
    cr_assert_eq(proto_metadata_request_encode(&w, 0, &m), GREGOR_OK);
    assert_bytes(&w, "00000001 0002 7431");
    buf_writer_fini(&w);
}

Test(protocol, metadata_request_v9_flexible_null_topics)
{
    proto_metadata_request m;
    proto_metadata_request_init(&m);
    m.topics_count = -1; /* all topics */
    buf_writer w;
    buf_writer_init(&w, 1024);
    cr_assert_eq(proto_metadata_request_encode(&w, 9, &m), GREGOR_OK);
    /* compact null array, AllowAutoTopicCreation=true, two false flags, no tags */
    assert_bytes(&w, "00 01 00 00 00");
    buf_writer_fini(&w);
    /* v0 has no null array: refusing is better than a silent "all topics". */
    buf_writer_init(&w, 1024);
    cr_assert_eq(proto_metadata_request_encode(&w, 0, &m), GREGOR_ERR_INVALID_ARG);
    buf_writer_fini(&w);
}

Test(protocol, api_versions_request_v3_compact_strings)
{
    proto_api_versions_request m;
    proto_api_versions_request_init(&m);
    m.client_software_name = buf_slice_of("gregor", 6);
    m.client_software_version = buf_slice_of("0.1", 3);
    buf_writer w;
    buf_writer_init(&w, 1024);
    cr_assert_eq(proto_api_versions_request_encode(&w, 3, &m), GREGOR_OK);
    assert_bytes(&w, "07 677265676f72 04 302e31 00");
    buf_writer_fini(&w);
}

Test(protocol, request_header_v1_and_v2)
{
    buf_writer w;
    buf_writer_init(&w, 1024);
    cr_assert_eq(proto_request_header_write(&w, PROTO_API_METADATA, 12, 7, buf_slice_of("c", 1)), GREGOR_OK);
    assert_bytes(&w, "0003 000c 00000007 0001 63 00"); /* v2: client id keeps int16 length */
    buf_writer_reset(&w);
    cr_assert_eq(proto_request_header_write(&w, PROTO_API_METADATA, 8, 7, buf_slice_of("c", 1)), GREGOR_OK);
    assert_bytes(&w, "0003 0008 00000007 0001 63");
    buf_writer_reset(&w);
    cr_assert_eq(proto_request_header_write(&w, 9999, 0, 7, BUF_SLICE_NULL), GREGOR_ERR_UNSUPPORTED);
    buf_writer_fini(&w);
    cr_assert_eq(proto_response_header_version(PROTO_API_API_VERSIONS, 4), 0);
    cr_assert_eq(proto_response_header_version(PROTO_API_METADATA, 9), 1);
    cr_assert_eq(proto_response_header_version(PROTO_API_METADATA, 8), 0);
}

Test(protocol, metadata_response_v0_known_bytes)
{
    size_t n;
    uint8_t *b = tu_hex("00000001 00000001 0001 68 00002384"
                        "00000001 0000 0001 74 00000001"
                        "0000 00000000 00000001 00000001 00000001 00000001 00000001",
                        &n);
    buf_reader r;
    buf_reader_init(&r, b, n);
    arena a;
    arena_init(&a, 1 << 20);
    proto_metadata_response m;
    cr_assert_eq(proto_metadata_response_decode(&r, 0, &m, &a), GREGOR_OK);
    cr_assert_eq(r.pos, n);
    cr_assert_eq(m.brokers_count, 1);
    cr_assert_eq(m.brokers[0].node_id, 1);
    cr_assert(buf_slice_eq_str(m.brokers[0].host, "h"));
    cr_assert_eq(m.brokers[0].port, 9092);
    cr_assert(buf_slice_is_null(m.brokers[0].rack), "v0 has no rack: the default (null) stays");
    cr_assert_eq(m.controller_id, -1, "v0 has no controller: the default (-1) stays");
    cr_assert_eq(m.topics_count, 1);
    cr_assert(buf_slice_eq_str(m.topics[0].name, "t"));
    cr_assert_eq(m.topics[0].partitions_count, 1);
    cr_assert_eq(m.topics[0].partitions[0].leader_id, 1);
    cr_assert_eq(m.topics[0].partitions[0].leader_epoch, -1);
    cr_assert_eq(m.topics[0].partitions[0].isr_nodes_count, 1);
    cr_assert_eq(m.topics[0].partitions[0].isr_nodes[0], 1);
    arena_fini(&a);
    free(b);
}

Test(protocol, api_versions_response_v3_tagged_fields)
{
    size_t n;
    /* error 0; one api key (18, 0..4); throttle 0; tags: 1 = FinalizedFeaturesEpoch 5,
     * then an unknown tag 9 with two bytes, which must be skipped. */
    uint8_t *b = tu_hex("0000 02 0012 0000 0004 00 00000000"
                        "02 01 08 0000000000000005 09 02 7878",
                        &n);
    buf_reader r;
    buf_reader_init(&r, b, n);
    arena a;
    arena_init(&a, 1 << 20);
    proto_api_versions_response m;
    cr_assert_eq(proto_api_versions_response_decode(&r, 3, &m, &a), GREGOR_OK);
    cr_assert_eq(r.pos, n);
    cr_assert_eq(m.api_keys_count, 1);
    cr_assert_eq(m.api_keys[0].api_key, 18);
    cr_assert_eq(m.api_keys[0].max_version, 4);
    cr_assert_eq(m.finalized_features_epoch, 5);

    /* Encoding writes the non-default tagged field back, and nothing else. */
    buf_writer w;
    buf_writer_init(&w, 1024);
    cr_assert_eq(proto_api_versions_response_encode(&w, 3, &m), GREGOR_OK);
    assert_bytes(&w, "0000 02 0012 0000 0004 00 00000000 01 01 08 0000000000000005");
    buf_writer_fini(&w);

    /* A tagged field whose size runs past the input fails, naming the struct. */
    buf_reader_init(&r, b, n - 3);
    cr_assert_neq(proto_api_versions_response_decode(&r, 3, &m, &a), GREGOR_OK);
    cr_assert_not_null(r.field);
    arena_fini(&a);
    free(b);
}

Test(protocol, hostile_array_count_is_refused_before_allocation)
{
    size_t n;
    /* MetadataResponse v0 claiming 2^31-1 brokers in 8 bytes. */
    uint8_t *b = tu_hex("7fffffff 00000000", &n);
    buf_reader r;
    buf_reader_init(&r, b, n);
    arena a;
    arena_init(&a, 1 << 20);
    proto_metadata_response m;
    cr_assert_eq(proto_metadata_response_decode(&r, 0, &m, &a), GREGOR_ERR_TOO_LARGE);
    cr_assert_str_eq(r.field, "MetadataResponse.Brokers");
    cr_assert_lt(a.used_bytes, 4096);
    arena_fini(&a);
    free(b);
}

Test(protocol, version_outside_range_is_unsupported)
{
    buf_reader r;
    buf_reader_init(&r, "", 0);
    arena a;
    arena_init(&a, 1 << 20);
    proto_metadata_response m;
    cr_assert_eq(proto_metadata_response_decode(&r, 99, &m, &a), GREGOR_ERR_UNSUPPORTED);
    arena_fini(&a);
}

Test(protocol, api_table_covers_the_0_8_2_baseline_and_4x)
{
    const proto_api_info *p = proto_api_get(PROTO_API_PRODUCE);
    cr_assert_not_null(p);
    cr_assert_eq(p->min_version, 0);
    cr_assert_geq(p->max_version, 12);
    cr_assert_eq(proto_api_get(PROTO_API_FETCH)->min_version, 0);
    cr_assert_eq(proto_api_get(PROTO_API_OFFSET_COMMIT)->min_version, 0);
    cr_assert_eq(proto_api_get(PROTO_API_INIT_PRODUCER_ID)->max_version, 5, "unstable v6 excluded");
    cr_assert_eq(proto_api_count(), 22);
    cr_assert_eq(proto_api_get(PROTO_API_OFFSET_FOR_LEADER_EPOCH)->max_version, 4);
    /* KIP-848: v1 (client-chosen member ids, regex) is stable since 4.0 */
    cr_assert_eq(proto_api_get(PROTO_API_CONSUMER_GROUP_HEARTBEAT)->max_version, 1);
    cr_assert_eq(proto_api_get(PROTO_API_CONSUMER_GROUP_DESCRIBE)->max_version, 0);
    cr_assert_null(proto_api_get(70));
}

Test(protocol, broker_error_names_and_classes)
{
    cr_assert_str_eq(gregor_err_name(gregor_err_from_broker(6)), "NOT_LEADER_OR_FOLLOWER");
    cr_assert(gregor_err_is_retriable(gregor_err_from_broker(6)));
    cr_assert(gregor_err_invalidates_metadata(gregor_err_from_broker(6)));
    cr_assert_not(gregor_err_is_retriable(gregor_err_from_broker(1)));
    cr_assert_eq(gregor_err_from_broker(-1), GREGOR_ERR_UNKNOWN_SERVER);
    cr_assert_str_eq(gregor_err_name(gregor_err_from_broker(35)), "UNSUPPORTED_VERSION");
    cr_assert_str_eq(gregor_err_name((gregor_err)30000), "UNKNOWN_ERROR");
}

/* Every message, every version: round trip and truncation sweep. */
Test(protocol, every_message_every_version_round_trips_and_truncates_cleanly)
{
    size_t checked = 0;
    for (size_t i = 0; i < proto_messages_count; i++) {
        const proto_message_info *mi = &proto_messages[i];
        void *m = calloc(1, mi->size), *m2 = calloc(1, mi->size);
        for (int16_t v = mi->min_version; v <= mi->max_version; v++) {
            arena a;
            arena_init(&a, 16 << 20);
            cr_assert(proto_sample_fill(mi->name, m, &a), "%s has no sample", mi->name);
            buf_writer w1, w2;
            buf_writer_init(&w1, 1 << 20);
            buf_writer_init(&w2, 1 << 20);
            cr_assert_eq(mi->encode(&w1, v, m), GREGOR_OK, "%s v%d: encode", mi->name, v);
            buf_reader r;
            buf_reader_init(&r, w1.data, w1.len);
            gregor_err err = mi->decode(&r, v, m2, &a);
            cr_assert_eq(err, GREGOR_OK, "%s v%d: decode: %s at %s", mi->name, v, gregor_err_name(err),
                         r.field ? r.field : "?");
            cr_assert_eq(r.pos, w1.len, "%s v%d: %zu of %zu bytes read", mi->name, v, r.pos, w1.len);
            cr_assert_eq(mi->encode(&w2, v, m2), GREGOR_OK);
            cr_assert_eq(w1.len, w2.len, "%s v%d: re-encoded length differs", mi->name, v);
            cr_assert(w1.len == 0 || memcmp(w1.data, w2.data, w1.len) == 0, "%s v%d: re-encoded bytes differ",
                      mi->name, v);
            for (size_t cut = 0; cut < w1.len; cut++) {
                buf_reader_init(&r, w1.data, cut);
                err = mi->decode(&r, v, m2, &a);
                cr_assert_neq(err, GREGOR_OK, "%s v%d: a %zu-byte prefix of %zu decoded", mi->name, v, cut,
                              w1.len);
                cr_assert_not_null(r.field, "%s v%d: error without a field path", mi->name, v);
            }
            buf_writer_fini(&w1);
            buf_writer_fini(&w2);
            arena_fini(&a);
            checked++;
        }
        free(m);
        free(m2);
    }
    cr_assert_geq(checked, 250, "only %zu message versions checked", checked);
}
