/* tests/fuzz/standalone.c — a libFuzzer-compatible driver for builds without
 * libFuzzer (gcc). Usage: fuzz_x [--seconds N] [--seed S] [CORPUS_DIR|FILE]...
 *
 * Replays every corpus file, then for N seconds (default 5) feeds inputs made
 * by mutating corpus entries (bit flips, truncation, byte overwrites, random
 * lengths) or drawn at random. Deterministic for a given seed. A crash or a
 * sanitizer report fails the run; the last input is kept in
 * ./fuzz-crash-input for reproduction.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 65536
#define MAX_SEEDS 4096

static uint8_t *seeds[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS];
static size_t nseeds;

static void add_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f || nseeds == MAX_SEEDS) {
        if (f)
            fclose(f);
        return;
    }
    uint8_t *buf = malloc(FUZZ_MAX_INPUT);
    size_t n = buf ? fread(buf, 1, FUZZ_MAX_INPUT, f) : 0;
    fclose(f);
    if (!buf)
        return;
    seeds[nseeds] = buf;
    seed_len[nseeds++] = n;
}

static void add_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        add_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        add_file(full);
    }
    closedir(d);
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void run_one(const uint8_t *data, size_t n)
{
    FILE *f = fopen("fuzz-crash-input", "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
    /* A private copy so reads past `n` are caught by ASan. */
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, data, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
}

int main(int argc, char **argv)
{
    double seconds = 5;
    rng_state = 0x9e3779b97f4a7c15ULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            rng_state = strtoull(argv[++i], NULL, 0) | 1;
        else
            add_path(argv[i]);
    }
    for (size_t i = 0; i < nseeds; i++)
        run_one(seeds[i], seed_len[i]);

    static uint8_t buf[FUZZ_MAX_INPUT];
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long runs = 0;
    for (;;) {
        size_t n;
        if (nseeds && rnd() % 4) {
            size_t s = rnd() % nseeds;
            n = seed_len[s];
            memcpy(buf, seeds[s], n);
            int muts = 1 + (int)(rnd() % 8);
            for (int m = 0; m < muts && n; m++) {
                switch (rnd() % 4) {
                case 0: buf[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8)); break;
                case 1: buf[rnd() % n] = (uint8_t)rnd(); break;
                case 2: n = rnd() % (n + 1); break;
                default: buf[rnd() % n] = (uint8_t)(rnd() % 2 ? 0xff : 0x00); break;
                }
            }
        } else {
            n = rnd() % 512;
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)rnd();
        }
        run_one(buf, n);
        runs++;
        if ((runs & 255) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
                break;
        }
    }
    remove("fuzz-crash-input");
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i]);
    printf("standalone fuzz: %lu runs, %zu seeds, no crash\n", runs, nseeds);
    return 0;
}
