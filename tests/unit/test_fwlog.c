/* The framework's structured log (src/framework/fwlog*.c): lines in text
 * and JSON, escaping of what handlers write (quotes, control characters,
 * bytes that are not UTF-8), cuts that keep the JSON valid (checked with
 * jansson, an independent parser, also on random input), the -X options,
 * and the log file reopened after it was moved away. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framework/fwlog.h"

#define T0_MS 1796193000123LL /* 2026-12-02T06:30:00.123Z */

static json_t *parse_line(const char *line, size_t n)
{
    cr_assert_gt(n, 1);
    cr_assert_eq(line[n - 1], '\n', "the line ends with its newline");
    cr_assert_null(memchr(line, '\n', n - 1), "one line: %s", line);
    json_error_t e;
    json_t *j = json_loadb(line, n, JSON_ALLOW_NUL, &e);
    cr_assert_not_null(j, "not JSON (%s at %d): %s", e.text, e.position, line);
    return j;
}

static const char *jstr(json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);
    cr_assert(json_is_string(v), "%s is not a string", key);
    return json_string_value(v);
}

static fw_log_event failed_event(void)
{
    fw_log_event ev = fw_log_ev(GREGOR_LOG_WARN, "dead_lettered");
    ev.pipeline = "split";
    ev.group = "wc";
    ev.topic = "lines";
    ev.partition = 3;
    ev.offset = 17;
    ev.attempt = 3;
    ev.error = "boom";
    return ev;
}

Test(fwlog, json_has_every_field)
{
    char line[FW_LOG_LINE_MAX];
    fw_log_event ev = failed_event();
    ev.member = "m-1";
    ev.generation = 4;
    size_t n = fw_log_format_line(&ev, "sent to the dead-letter topic", FW_LOG_JSON, true, T0_MS, line, sizeof line);
    json_t *j = parse_line(line, n);
    cr_assert_str_eq(jstr(j, "ts"), "2026-12-02T06:30:00.123Z");
    cr_assert_str_eq(jstr(j, "level"), "warn");
    cr_assert_str_eq(jstr(j, "source"), "run");
    cr_assert_str_eq(jstr(j, "event"), "dead_lettered");
    cr_assert_str_eq(jstr(j, "msg"), "sent to the dead-letter topic");
    cr_assert_str_eq(jstr(j, "pipeline"), "split");
    cr_assert_str_eq(jstr(j, "group"), "wc");
    cr_assert_str_eq(jstr(j, "member"), "m-1");
    cr_assert_str_eq(jstr(j, "topic"), "lines");
    cr_assert_str_eq(jstr(j, "error"), "boom");
    cr_assert_eq(json_integer_value(json_object_get(j, "generation")), 4);
    cr_assert_eq(json_integer_value(json_object_get(j, "partition")), 3);
    cr_assert_eq(json_integer_value(json_object_get(j, "offset")), 17);
    cr_assert_eq(json_integer_value(json_object_get(j, "attempt")), 3);
    cr_assert_null(json_object_get(j, "payload"), "no payload unless asked");
    cr_assert_null(json_object_get(j, "child"), "no child outside a swarm");
    json_decref(j);
    ev.child = 2;
    n = fw_log_format_line(&ev, "x", FW_LOG_JSON, true, T0_MS, line, sizeof line);
    j = parse_line(line, n);
    cr_assert_eq(json_integer_value(json_object_get(j, "child")), 2);
    json_decref(j);
    n = fw_log_format_line(&ev, "x", FW_LOG_TEXT, false, T0_MS, line, sizeof line);
    cr_assert(strstr(line, " child=2"), "%s", line);
}

Test(fwlog, json_absent_fields_are_left_out)
{
    char line[FW_LOG_LINE_MAX];
    fw_log_event ev = fw_log_ev(GREGOR_LOG_INFO, NULL);
    size_t n = fw_log_format_line(&ev, "2 pipelines started", FW_LOG_JSON, false, T0_MS, line, sizeof line);
    json_t *j = parse_line(line, n);
    cr_assert_eq(json_object_size(j), 4, "ts, level, source, msg only: %s", line);
    json_decref(j);
}

Test(fwlog, json_escapes_quotes_control_chars_and_bad_utf8)
{
    /* quotes, a backslash, newline, tab, \x01, DEL, valid 2- and 4-byte
     * sequences, then a lone continuation byte, a truncated sequence, an
     * overlong '/', a UTF-16 surrogate and 0xff. */
    const char *err = "say \"hi\" \\ a\nb\tc\x01" "d\x7f é 😀 \x80 \xc3 \xc0\xaf \xed\xa0\x80 \xff";
    const char *want = "say \"hi\" \\ a\nb\tc\x01" "d\x7f é 😀 \\x80 \\xc3 \\xc0\\xaf \\xed\\xa0\\x80 \\xff";
    char line[FW_LOG_LINE_MAX];
    fw_log_event ev = failed_event();
    ev.error = err;
    ev.pipeline = "p\"q";
    size_t n = fw_log_format_line(&ev, "m\r\n", FW_LOG_JSON, false, T0_MS, line, sizeof line);
    json_t *j = parse_line(line, n);
    cr_assert_str_eq(jstr(j, "error"), want, "%s", line);
    cr_assert_str_eq(jstr(j, "pipeline"), "p\"q");
    cr_assert_str_eq(jstr(j, "msg"), "m\r\n");
    json_decref(j);
}

Test(fwlog, json_payload_only_when_given)
{
    static const char payload[] = {'a', 0, '"', (char)0xfe, 'z'};
    char line[FW_LOG_LINE_MAX];
    fw_log_event ev = failed_event();
    ev.payload = payload;
    ev.payload_len = sizeof payload;
    ev.has_payload = true;
    size_t n = fw_log_format_line(&ev, "x", FW_LOG_JSON, false, T0_MS, line, sizeof line);
    json_t *j = parse_line(line, n);
    json_t *p = json_object_get(j, "payload");
    cr_assert(json_is_string(p));
    cr_assert_eq(json_string_length(p), 8); /* a \0 " \xfe z */
    cr_assert_arr_eq(json_string_value(p), "a\0\"\\xfez", 8);
    json_decref(j);
}

Test(fwlog, json_lists_a_rebalance_partitions)
{
    gregor_topic_offset tps[2] = {{.topic = "lines", .partition = 0}, {.topic = "lines", .partition = 7}};
    char line[FW_LOG_LINE_MAX];
    fw_log_event ev = fw_log_ev(GREGOR_LOG_INFO, "assigned");
    ev.pipeline = "split";
    ev.tps = tps;
    ev.n_tps = 2;
    size_t n = fw_log_format_line(&ev, "assigned: lines [0], lines [7]", FW_LOG_JSON, false, T0_MS, line,
                                  sizeof line);
    json_t *j = parse_line(line, n);
    json_t *a = json_object_get(j, "partitions");
    cr_assert_eq(json_array_size(a), 2);
    cr_assert_str_eq(json_string_value(json_array_get(a, 1)), "lines/7");
    json_decref(j);
}

Test(fwlog, long_error_is_cut_at_a_character)
{
    char err[3001];
    for (size_t i = 0; i + 2 <= 3000; i += 2)
        memcpy(err + i, "é", 2);
    err[3000] = '\0';
    char line[FW_LOG_LINE_MAX];
    fw_log_event ev = failed_event();
    ev.error = err;
    size_t n = fw_log_format_line(&ev, "x", FW_LOG_JSON, false, T0_MS, line, sizeof line);
    json_t *j = parse_line(line, n);
    const char *got = jstr(j, "error");
    size_t len = strlen(got);
    cr_assert_eq(len, FW_LOG_ERROR_MAX + 3, "%zu", len);
    cr_assert_str_eq(got + len - 3, "...");
    cr_assert_eq(memcmp(got, err, FW_LOG_ERROR_MAX), 0);
    json_decref(j);
}

Test(fwlog, a_line_cut_to_its_buffer_is_still_json)
{
    /* \x01 takes 6 bytes escaped: the message alone overflows the line. */
    static char msg[20000];
    memset(msg, 1, sizeof msg - 1);
    fw_log_event ev = failed_event();
    for (size_t cap = 128; cap <= FW_LOG_LINE_MAX; cap = cap * 3 / 2) {
        char *line = malloc(cap);
        size_t n = fw_log_format_line(&ev, msg, FW_LOG_JSON, false, T0_MS, line, cap);
        cr_assert_lt(n, cap);
        json_decref(parse_line(line, n));
        free(line);
    }
}

/* Random bytes in every string field and random buffer sizes: the JSON
 * always parses and is one line; the text is one line without control
 * bytes. A small property fuzzer that runs in every build. */
Test(fwlog, random_input_always_gives_one_valid_line)
{
    unsigned seed = 12345;
    static char bufs[4][3000];
    static char line[FW_LOG_LINE_MAX];
    for (int round = 0; round < 3000; round++) {
        size_t lens[4];
        for (int b = 0; b < 4; b++) {
            lens[b] = (size_t)rand_r(&seed) % (b == 0 ? 3000 : 40);
            for (size_t i = 0; i < lens[b]; i++) {
                int r = rand_r(&seed);
                /* Mostly bytes near the interesting ranges. */
                bufs[b][i] = (char)(r & 0x100 ? r & 0xff : "\"\\\n\x01\xc3\xa9\xe2\x82\xac\xf0\x9f\xff a"[r % 15]);
            }
            bufs[b][lens[b] ? lens[b] - 1 : 0] = '\0';
        }
        fw_log_event ev = failed_event();
        ev.error = bufs[0];
        ev.pipeline = bufs[1];
        ev.topic = bufs[2];
        ev.payload = bufs[3];
        ev.payload_len = lens[3];
        ev.has_payload = round & 1;
        size_t cap = 128 + (size_t)rand_r(&seed) % (sizeof line - 128);
        size_t n = fw_log_format_line(&ev, bufs[0], FW_LOG_JSON, false, T0_MS, line, cap);
        cr_assert_lt(n, cap);
        json_decref(parse_line(line, n));
        n = fw_log_format_line(&ev, bufs[0], FW_LOG_TEXT, true, T0_MS, line, cap);
        cr_assert_lt(n, cap);
        cr_assert_eq(line[n - 1], '\n');
        for (size_t i = 0; i + 1 < n; i++)
            cr_assert((unsigned char)line[i] >= 0x20 && line[i] != 0x7f, "byte %zu is %02x", i,
                      (unsigned char)line[i]);
    }
}

Test(fwlog, text_keeps_the_gregor_run_lines)
{
    char line[FW_LOG_LINE_MAX];
    fw_log_event ev = failed_event();
    fw_log_format_line(&ev, "sent to the dead-letter topic after 3 attempts", FW_LOG_TEXT, false, T0_MS, line,
                       sizeof line);
    cr_assert_str_eq(line, "gregor run: pipeline split: lines [3] offset 17: sent to the dead-letter topic after 3 "
                           "attempts: boom | group=wc attempt=3\n");
    fw_log_format_line(&ev, "x", FW_LOG_TEXT, true, T0_MS, line, sizeof line);
    cr_assert_eq(strncmp(line, "2026-12-02T06:30:00.123Z WARN gregor run: pipeline split: ", 58), 0, "%s", line);

    fw_log_event lib = fw_log_ev(GREGOR_LOG_WARN, NULL);
    lib.source = FW_LOG_SRC_LIB;
    fw_log_format_line(&lib, "broker 1 (localhost:9092): connection refused", FW_LOG_TEXT, false, T0_MS, line,
                       sizeof line);
    cr_assert_str_eq(line, "gregor WARN: broker 1 (localhost:9092): connection refused\n");
    fw_log_format_line(&lib, "broker 1 down", FW_LOG_TEXT, true, T0_MS, line, sizeof line);
    cr_assert_str_eq(line, "2026-12-02T06:30:00.123Z WARN gregor: broker 1 down\n");

    fw_log_event started = fw_log_ev(GREGOR_LOG_INFO, "started");
    fw_log_format_line(&started, "2 pipelines started: a, b", FW_LOG_TEXT, false, T0_MS, line, sizeof line);
    cr_assert_str_eq(line, "gregor run: 2 pipelines started: a, b\n");
}

Test(fwlog, text_escapes_what_would_break_the_line)
{
    char line[FW_LOG_LINE_MAX];
    fw_log_event ev = failed_event();
    ev.error = "line1\nline2\x1b[31m \xff";
    ev.member = "has space";
    ev.has_payload = true;
    ev.payload = "v\"1\n";
    ev.payload_len = 4;
    fw_log_format_line(&ev, "failed", FW_LOG_TEXT, false, T0_MS, line, sizeof line);
    cr_assert_str_eq(line, "gregor run: pipeline split: lines [3] offset 17: failed: line1\\nline2\\x1b[31m \\xff | "
                           "group=wc member=\"has space\" attempt=3 payload=\"v\\\"1\\n\"\n");
}

Test(fwlog, options_name_the_bad_key_and_value)
{
    fw_log_options o;
    fw_log_options_init(&o);
    char e[256];
    cr_assert_eq(fw_log_option_set(&o, "log_format", "json", e, sizeof e), GREGOR_OK);
    cr_assert_eq(o.format, FW_LOG_JSON);
    cr_assert_eq(fw_log_option_set(&o, "level", "WARN", e, sizeof e), GREGOR_OK);
    cr_assert_eq(o.level, GREGOR_LOG_WARN);
    cr_assert(o.level_set);
    cr_assert_eq(fw_log_option_set(&o, "log_fromat", "json", e, sizeof e), GREGOR_ERR_CONFIG);
    cr_assert(strstr(e, "'log_fromat'") && strstr(e, "did you mean log_format?"), "%s", e);
    cr_assert_eq(fw_log_option_set(&o, "log_format", "xml", e, sizeof e), GREGOR_ERR_CONFIG);
    cr_assert(strstr(e, "log_format") && strstr(e, "'xml'"), "%s", e);
    cr_assert_eq(fw_log_option_set(&o, "log_level", "loud", e, sizeof e), GREGOR_ERR_CONFIG);
    cr_assert(strstr(e, "'loud'"), "%s", e);
    cr_assert_eq(fw_log_option_set(&o, "log_file", "", e, sizeof e), GREGOR_ERR_CONFIG);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

Test(fwlog, file_is_reopened_after_it_moved)
{
    char dir[] = "/tmp/fwlog-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[300], moved[300], e[256];
    snprintf(path, sizeof path, "%s/run.log", dir);
    snprintf(moved, sizeof moved, "%s/run.log.1", dir);
    fw_log_options o;
    fw_log_options_init(&o);
    cr_assert_eq(fw_log_option_set(&o, "log_file", path, e, sizeof e), GREGOR_OK);
    cr_assert_eq(fw_log_option_set(&o, "log_format", "json", e, sizeof e), GREGOR_OK);
    cr_assert_eq(fw_log_configure(&o, e, sizeof e), GREGOR_OK, "%s", e);
    fw_log_event ev = fw_log_ev(GREGOR_LOG_INFO, "one");
    fw_log_emit(&ev, "first");
    fw_log_event dbg = fw_log_ev(GREGOR_LOG_DEBUG, "hidden");
    fw_log_emit(&dbg, "below the level");
    cr_assert_eq(rename(path, moved), 0);
    fw_log_emit(&ev, "second, still to the moved file");
    cr_assert_eq(fw_log_reopen(e, sizeof e), GREGOR_OK, "%s", e);
    fw_log_emitf(&ev, "third, to the new file (%d)", 3);
    fw_log_reset();

    const char *old = slurp(moved);
    cr_assert(strstr(old, "\"msg\":\"first\"") && strstr(old, "second"), "%s", old);
    cr_assert_null(strstr(old, "third"));
    cr_assert_null(strstr(old, "hidden"));
    const char *fresh = slurp(path);
    cr_assert(strstr(fresh, "\"msg\":\"third, to the new file (3)\""), "%s", fresh);
    cr_assert_null(strstr(fresh, "first"));
    unlink(path);
    unlink(moved);
    rmdir(dir);
}

Test(fwlog, unopenable_file_is_an_error_naming_it)
{
    fw_log_options o;
    fw_log_options_init(&o);
    o.file = "/nonexistent-dir/x.log";
    char e[256];
    cr_assert_eq(fw_log_configure(&o, e, sizeof e), GREGOR_ERR_IO);
    cr_assert(strstr(e, "/nonexistent-dir/x.log"), "%s", e);
}

/* ------------------------------------------------------------ threads */

#define WRITERS 4
#define LINES_EACH 1500

static void *writer_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    fw_log_event ev = fw_log_ev(GREGOR_LOG_INFO, "w");
    ev.partition = id;
    ev.topic = "t";
    ev.error = "a longer error text so that lines are not tiny: 0123456789012345678901234567890123456789";
    for (int i = 0; i < LINES_EACH; i++) {
        ev.offset = i;
        fw_log_emitf(&ev, "line %d of writer %d", i, id);
    }
    return NULL;
}

/* Counts the lines of `path`, each of which must be a whole JSON object. */
static size_t count_json_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    char line[FW_LOG_LINE_MAX];
    while (fgets(line, sizeof line, f)) {
        json_decref(parse_line(line, strlen(line)));
        n++;
    }
    fclose(f);
    return n;
}

/* Four threads log while the file is moved and reopened again and again:
 * no line is lost, split or interleaved with another. */
Test(fwlog, threads_and_reopens_lose_and_split_nothing)
{
    char dir[] = "/tmp/fwlog-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[300], e[256];
    snprintf(path, sizeof path, "%s/run.log", dir);
    fw_log_options o;
    fw_log_options_init(&o);
    o.file = path;
    o.format = FW_LOG_JSON;
    cr_assert_eq(fw_log_configure(&o, e, sizeof e), GREGOR_OK, "%s", e);
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, writer_main, (void *)(intptr_t)i), 0);
    int rotations = 0;
    for (; rotations < 20; rotations++) {
        char moved[320];
        snprintf(moved, sizeof moved, "%s.%d", path, rotations);
        usleep(2000);
        cr_assert_eq(rename(path, moved), 0);
        cr_assert_eq(fw_log_reopen(e, sizeof e), GREGOR_OK, "%s", e);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    fw_log_reset();
    size_t total = count_json_lines(path);
    unlink(path);
    for (int r = 0; r < rotations; r++) {
        char moved[320];
        snprintf(moved, sizeof moved, "%s.%d", path, r);
        total += count_json_lines(moved);
        unlink(moved);
    }
    rmdir(dir);
    cr_assert_eq(total, (size_t)WRITERS * LINES_EACH);
}

static int custom_calls;
static void custom_sink(gregor_log_level level, const char *message, void *arg)
{
    (void)level;
    (void)message;
    (void)arg;
    custom_calls++;
}

/* The library's lines come to the log while routed; a program's own sink
 * is left alone by a run that did not route them. */
Test(fwlog, library_lines_are_routed_and_given_back)
{
    char dir[] = "/tmp/fwlog-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[300], e[256];
    snprintf(path, sizeof path, "%s/run.log", dir);
    gregor_log_set_sink(custom_sink, NULL);
    fw_log_options o;
    fw_log_options_init(&o);
    o.file = path;
    o.format = FW_LOG_JSON;
    cr_assert_eq(fw_log_configure(&o, e, sizeof e), GREGOR_OK, "%s", e);
    fw_log_reset(); /* a run that did not route: the program's sink stays */
    gregor_log(GREGOR_LOG_ERROR, "to the program's sink");
    cr_assert_eq(custom_calls, 1);

    cr_assert_eq(fw_log_configure(&o, e, sizeof e), GREGOR_OK, "%s", e);
    fw_log_route_library(true);
    gregor_log(GREGOR_LOG_ERROR, "broker %d: \"down\"", 3);
    /* The library's threshold (GREGOR_LOG_LEVEL) decides for its lines,
     * even below the framework's (info) when log_level was not given. */
    gregor_log_set_level(GREGOR_LOG_DEBUG);
    gregor_log(GREGOR_LOG_DEBUG, "a debug line");
    fw_log_event fw_debug = fw_log_ev(GREGOR_LOG_DEBUG, "x");
    fw_log_emit(&fw_debug, "a framework debug line");
    fw_log_reset();
    cr_assert_eq(custom_calls, 1);
    const char *text = slurp(path);
    const char *nl = strchr(text, '\n');
    cr_assert_not_null(nl);
    json_t *j = parse_line(text, (size_t)(nl + 1 - text));
    cr_assert_str_eq(jstr(j, "source"), "lib");
    cr_assert_str_eq(jstr(j, "level"), "error");
    cr_assert_str_eq(jstr(j, "msg"), "broker 3: \"down\"");
    json_decref(j);
    cr_assert(strstr(text, "\"msg\":\"a debug line\""), "%s", text);
    cr_assert_null(strstr(text, "framework debug"), "%s", text);
    unlink(path);
    rmdir(dir);
}
