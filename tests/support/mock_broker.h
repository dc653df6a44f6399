/* tests/support/mock_broker.h — a scripted Kafka broker on 127.0.0.1 for
 * unit tests that need to inject faults (wrong correlation ids, connections
 * closed on ApiVersions, silence, garbage). It is never a stand-in for the
 * real brokers of the integration tests.
 *
 * A server thread accepts any number of connections, reads framed requests,
 * parses the request header and calls the handler, which writes the
 * response body (the mock adds size prefix and response header) or chooses
 * to close the connection or stay silent.
 *
 * Threading: the handler runs on the mock's thread; the other functions are
 * for the test's thread.
 */
#ifndef GREGOR_TEST_MOCK_BROKER_H
#define GREGOR_TEST_MOCK_BROKER_H

#include <stdint.h>

#include "util/buf.h"

typedef enum mock_action {
    MOCK_REPLY,   /* send what the handler wrote */
    MOCK_CLOSE,   /* close the connection without answering */
    MOCK_SILENT,  /* never answer this request */
    MOCK_RAW      /* send the handler's bytes as they are: no size, no header */
} mock_action;

typedef struct mock_request {
    int16_t api_key;
    int16_t version;
    int32_t correlation_id;
    int conn_index; /* 0 for the first accepted connection, then 1, 2, ... */
    buf_reader body;
} mock_request;

typedef mock_action (*mock_handler)(void *arg, mock_request *req, buf_writer *reply);

typedef struct mock_broker mock_broker;

mock_broker *mock_broker_start(mock_handler h, void *arg);
int mock_broker_port(const mock_broker *m);
/* Connections accepted so far. */
int mock_broker_accepted(mock_broker *m);
/* Requests received so far, and how many of them had api key `key` (-1: all). */
int mock_broker_requests(mock_broker *m, int16_t key);
/* Closes the listening socket: later connects are refused. */
void mock_broker_stop_listening(mock_broker *m);
void mock_broker_stop(mock_broker *m);

/* Writes a standard ApiVersions response body advertising every API gregor
 * speaks over its whole range (for handlers that need a handshake). */
void mock_write_api_versions(buf_writer *reply, int16_t version);

/* A Metadata response body: broker node 1 at 127.0.0.1:`port` (the mock's
 * own), and topic `topic` with `partitions` partitions (0..n-1, at most 64),
 * each led by node 1 alone; `topic_id` (16 bytes) or NULL for none. */
void mock_write_metadata(buf_writer *reply, int16_t version, int port, const char *topic, const uint8_t *topic_id,
                         int32_t partitions);

/* A FindCoordinator response body naming node 1 at 127.0.0.1:`port` as the
 * coordinator of group `key` (every version: v4+ as a list of one). */
void mock_write_find_coordinator(buf_writer *reply, int16_t version, int port, const char *key);

#endif
