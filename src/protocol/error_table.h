/* protocol/error_table.h — broker error codes as data (generated into
 * protocol/gen/errors.c from Apache Kafka's Errors.java list).
 * Index = broker code; entries without a name are unassigned codes.
 * Threading: immutable data. */
#ifndef GREGOR_PROTOCOL_ERROR_TABLE_H
#define GREGOR_PROTOCOL_ERROR_TABLE_H

#include <stdbool.h>

typedef struct proto_error_info {
    const char *name;      /* "NOT_LEADER_OR_FOLLOWER", NULL when unassigned */
    bool retriable;        /* Kafka's RetriableException family */
    bool invalid_metadata; /* Kafka's InvalidMetadataException family */
} proto_error_info;

extern const proto_error_info proto_error_table[];
extern const int proto_error_table_size;

#endif
