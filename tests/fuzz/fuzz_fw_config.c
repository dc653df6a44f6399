/* Fuzz target: the pipeline file loader (framework/config.h), fed any bytes
 * as the text of a pipeline file.
 *
 * Input: the whole input is the file. GREGOR_FUZZ_VAR is set in the
 * environment (and GREGOR_FUZZ_UNSET is not), so that ${VAR} references
 * take both paths.
 *
 * Checked: fw_config_parse() either returns a tree and reports nothing, or
 * returns no tree and reports at least one error, each starting with the
 * file name; a tree holds what the schema promises (at least one pipeline
 * with a name, group, handler and topics or a pattern; ranges; a "default"
 * producer; every output's and dead-letter producer defined); a client
 * config builds from the cluster options with each producer's and each
 * pipeline's consumer options over them (they were validated at load).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framework/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pipeline(const fw_config *cfg, const fw_pipeline_conf *p)
{
    if (!p->name || !p->group || !p->handler || (!p->n_topics == !p->pattern))
        abort();
    if (p->threads < 1 || p->threads > 1024 || p->max_attempts < 1 || p->batch_size < 1 ||
        p->max_backoff_ms < p->backoff_ms || p->max_in_flight_messages < 1 || p->max_in_flight_bytes < 1024)
        abort();
    for (size_t i = 0; i < p->n_outputs; i++)
        if (!p->outputs[i].name || !p->outputs[i].topic || !fw_config_producer(cfg, p->outputs[i].producer))
            abort();
    if (!fw_config_producer(cfg, p->dead_letter_producer))
        abort();
    gregor_config *c = fw_config_client(cfg, &p->consumer);
    if (!c)
        abort();
    gregor_config_destroy(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once++) {
        setenv("GREGOR_FUZZ_VAR", "fuzz:9092", 1);
        unsetenv("GREGOR_FUZZ_UNSET");
    }
    fw_diags d;
    fw_diags_init(&d);
    fw_config *cfg = NULL;
    gregor_err err = fw_config_parse("f.yaml", (const char *)data, size, &cfg, &d);
    if ((err == GREGOR_OK) != (cfg != NULL) || (err == GREGOR_OK) != (d.n == 0))
        abort();
    for (size_t i = 0; i < d.n; i++)
        if (strncmp(d.msgs[i], "f.yaml", 6) && strcmp(d.msgs[i], "out of memory"))
            abort();
    if (cfg) {
        if (cfg->n_pipelines < 1 || !fw_config_producer(cfg, "default"))
            abort();
        for (size_t i = 0; i < cfg->n_pipelines; i++)
            check_pipeline(cfg, &cfg->pipelines[i]);
        for (size_t i = 0; i < cfg->n_producers; i++) {
            gregor_config *c = fw_config_client(cfg, &cfg->producers[i].options);
            if (!c)
                abort();
            gregor_config_destroy(c);
        }
    }
    fw_config_free(cfg);
    fw_diags_fini(&d);
    return 0;
}
