/* Fuzz target: what a swarm process reads from another (framework/
 * swarm_crash.c, swarm_merge.c): the crash table a worker process decodes
 * from its supervisor, and the metrics texts the supervisor merges from
 * its children (which may be dying of memory corruption).
 *
 * Input: byte 0 picks the decoder (even: crash table, odd: merge); for the
 * merge, byte 1 splits the rest into two texts (at byte 1 * len / 256) and
 * its low bit asks for counters only.
 *
 * Checked: a crash table decodes or is refused whole (MALFORMED, the table
 * unchanged); a decoded one has at most FW_CRASH_MAX entries with NUL-
 * terminated names and ranges forward, and encodes to the same bytes. A
 * merge never fails but for memory, and its output is NUL-terminated, of
 * the length it says, and made of "# HELP ", "# TYPE " and "series value"
 * lines whose value is a number.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framework/swarm_crash.h"
#include "framework/swarm_merge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void crash_table(const uint8_t *data, size_t size)
{
    fw_crash_table t;
    fw_crash_table_init(&t);
    if (fw_crash_add(&t, "p", "t", 0, 1, 1, 11) != GREGOR_OK)
        abort();
    gregor_err err = fw_crash_decode(&t, data, size);
    if (err == GREGOR_ERR_NOMEM)
        goto out;
    if (err) {
        if (err != GREGOR_ERR_MALFORMED || t.n != 1 || fw_crash_count(&t, "p", "t", 0, 1, NULL) != 1)
            abort();
        goto out;
    }
    if (t.n > FW_CRASH_MAX)
        abort();
    for (size_t i = 0; i < t.n; i++)
        if (memchr(t.items[i].pipeline, 0, FW_CRASH_NAME_MAX) == NULL ||
            memchr(t.items[i].topic, 0, FW_CRASH_NAME_MAX) == NULL || t.items[i].last_offset < t.items[i].first_offset)
            abort();
    uint8_t *again = NULL;
    size_t len = 0;
    if (fw_crash_encode(&t, &again, &len) == GREGOR_OK && (len != size || memcmp(again, data, size)))
        abort();
    free(again);
out:
    fw_crash_table_fini(&t);
}

static void merge(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    size_t cut = (size_t)data[0] * (size - 1) / 256;
    const char *texts[2] = {(const char *)data + 1, (const char *)data + 1 + cut};
    size_t lens[2] = {cut, size - 1 - cut};
    char *out = NULL;
    size_t len = 0;
    gregor_err err = fw_metrics_merge(texts, lens, 2, data[0] & 1, &out, &len);
    if (err == GREGOR_ERR_NOMEM || err == GREGOR_ERR_TOO_LARGE)
        return;
    if (err || !out || strlen(out) != len)
        abort();
    for (char *line = out; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl)
            abort(); /* every line ends with a newline */
        *nl = '\0';
        if (strncmp(line, "# HELP ", 7) && strncmp(line, "# TYPE ", 7)) {
            char *sp = strrchr(line, ' '), *end;
            if (!sp || sp == line)
                abort();
            (void)strtod(sp + 1, &end);
            if (*end)
                abort();
        }
        line = nl + 1;
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] % 2 == 0)
        crash_table(data + 1, size - 1);
    else
        merge(data + 1, size - 1);
    return 0;
}
