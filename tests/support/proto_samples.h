/* tests/support/proto_samples.h — sample values for the generated codecs.
 * Threading: test-process local. */
#ifndef GREGOR_TEST_PROTO_SAMPLES_H
#define GREGOR_TEST_PROTO_SAMPLES_H

#include <stdbool.h>

#include "util/arena.h"

/* Fills the message named `name` ("MetadataResponse"; the struct behind `m`)
 * with non-default values in every field, arrays from `a`. False for an
 * unknown name. Strings are static. */
bool proto_sample_fill(const char *name, void *m, arena *a);

#endif
