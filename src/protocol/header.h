/* protocol/header.h — request and response headers, and the int16 version
 * prefix of the consumer group's embedded protocol.
 *
 * Request header v1: api_key int16, api_version int16, correlation_id int32,
 * client_id NULLABLE_STRING; v2 (flexible requests) adds a TAG_BUFFER, while
 * client_id keeps its int16 length so that any broker can read it. Response
 * header v0: correlation_id; v1 adds a TAG_BUFFER, except for ApiVersions
 * answers, which always use v0 (protocol/gen/api.h picks the versions).
 *
 * Threading: pure functions.
 */
#ifndef GREGOR_PROTOCOL_HEADER_H
#define GREGOR_PROTOCOL_HEADER_H

#include <stdint.h>

#include "gregor/error.h"
#include "util/buf.h"

typedef struct proto_request_header {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    buf_slice client_id; /* view; null allowed */
} proto_request_header;

/* Writes the header for `api_key` at `version` (an API gregor speaks, else
 * UNSUPPORTED). `client_id` is borrowed. Returns the writer's error. */
gregor_err proto_request_header_write(buf_writer *w, int16_t api_key, int16_t version,
                                      int32_t correlation_id, buf_slice client_id);

/* Reads a request header (a broker's view; tests and the mock broker use it).
 * Unknown API keys are read as v1 headers. */
gregor_err proto_request_header_read(buf_reader *r, proto_request_header *out) GREGOR_MUST_CHECK;

/* Reads the response header of `api_key` at `version`; leaves `r` at the body. */
gregor_err proto_response_header_read(buf_reader *r, int16_t api_key, int16_t version,
                                      int32_t *correlation_id) GREGOR_MUST_CHECK;

/* Writes a response header (for the mock broker and tests). */
void proto_response_header_write(buf_writer *w, int16_t api_key, int16_t version, int32_t correlation_id);

#endif
