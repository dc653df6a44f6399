/* Unit tests for the command's input handling (src/tools/splitter.c and
 * escape.c): delimiters of one and several bytes, NULs, delimiters split
 * across reads, the last message without a delimiter, the size limit at
 * its exact boundary, and the escapes of -D, -K and -f. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/tool.h"

typedef struct got {
    char msgs[16][64];
    size_t lens[16];
    size_t n;
    tool_split_result last;
} got;

/* Feeds `in` through a pipe from a child process, `chunk` bytes per
 * write(2) with a pause between, so that reads see it piece by piece, and
 * splits it. */
static got split(const char *in, size_t in_len, size_t chunk, const char *delim, size_t delim_len, size_t max)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        for (size_t off = 0; off < in_len; off += chunk) {
            size_t n = in_len - off < chunk ? in_len - off : chunk;
            if (write(fds[1], in + off, n) != (ssize_t)n)
                _exit(1);
            usleep(2000);
        }
        _exit(0);
    }
    close(fds[1]);
    tool_splitter s;
    tool_splitter_init(&s, fds[0], delim, delim_len, max);
    got g = {0};
    const char *msg;
    size_t len;
    while ((g.last = tool_splitter_next(&s, &msg, &len)) == TOOL_SPLIT_MESSAGE) {
        cr_assert_lt(g.n, 16);
        cr_assert_lt(len, 64);
        memcpy(g.msgs[g.n], msg, len);
        g.lens[g.n++] = len;
    }
    tool_splitter_fini(&s);
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return g;
}

static void expect(const got *g, size_t i, const char *want, size_t want_len)
{
    cr_assert_eq(g->lens[i], want_len, "message %zu: %zu bytes, %zu expected", i, g->lens[i], want_len);
    cr_assert_arr_eq(g->msgs[i], want, want_len, "message %zu", i);
}

Test(tool_splitter, newline_keeps_cr_and_empty_messages)
{
    got g = split("a\r\n\nb", 5, 5, "\n", 1, 100);
    cr_assert_eq(g.last, TOOL_SPLIT_END);
    cr_assert_eq(g.n, 3);
    expect(&g, 0, "a\r", 2);
    expect(&g, 1, "", 0);
    expect(&g, 2, "b", 1);
}

Test(tool_splitter, nul_delimiter_and_embedded_bytes)
{
    got g = split("k\x01v\n\0x\0", 7, 7, "\0", 1, 100);
    cr_assert_eq(g.n, 2);
    expect(&g, 0, "k\x01v\n", 4);
    expect(&g, 1, "x", 1);
}

Test(tool_splitter, delimiter_of_several_bytes_across_reads)
{
    /* From one byte per write, where every delimiter straddles reads, to
     * the whole input at once. */
    const char *in = "ab;;;c;;d;";
    for (size_t chunk = 1; chunk <= 10; chunk++) {
        got g = split(in, strlen(in), chunk, ";;", 2, 100);
        cr_assert_eq(g.n, 3, "chunk %zu", chunk);
        expect(&g, 0, "ab", 2);
        expect(&g, 1, ";c", 2);
        expect(&g, 2, "d;", 2);
    }
}

Test(tool_splitter, whole_input_without_delimiter)
{
    got g = split("x\ny\n", 4, 4, "\n", 0, 100);
    cr_assert_eq(g.n, 1);
    expect(&g, 0, "x\ny\n", 4);
    g = split("", 0, 1, "\n", 0, 100);
    cr_assert_eq(g.n, 0);
    cr_assert_eq(g.last, TOOL_SPLIT_END);
}

Test(tool_splitter, size_limit_exact)
{
    /* max 4: "abcd" passes with or without its delimiter, "abcde" does not. */
    got g = split("abcd;;x", 7, 7, ";;", 2, 4);
    cr_assert_eq(g.last, TOOL_SPLIT_END);
    cr_assert_eq(g.n, 2);
    expect(&g, 0, "abcd", 4);
    g = split("abcd", 4, 4, "\n", 0, 4);
    cr_assert_eq(g.last, TOOL_SPLIT_END);
    cr_assert_eq(g.n, 1);
    g = split("abcde;;", 7, 7, ";;", 2, 4);
    cr_assert_eq(g.last, TOOL_SPLIT_TOO_LARGE);
    cr_assert_eq(g.n, 0);
    g = split("abcde", 5, 5, "\n", 0, 4);
    cr_assert_eq(g.last, TOOL_SPLIT_TOO_LARGE);
    g = split("ok\nabcdefghijklmnop\n", 20, 1, "\n", 1, 4);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.last, TOOL_SPLIT_TOO_LARGE);
}

Test(tool_escape, every_escape)
{
    tool_bytes b;
    cr_assert(tool_unescape("t", "-D", "a\\n\\t\\r\\\\\\0\\x00\\x7c\\xAz\\q\\", &b));
    cr_assert_eq(b.len, 12);
    cr_assert_arr_eq(b.p, "a\n\t\r\\\0\0|\nzq\\", 12);
    tool_bytes_fini(&b);
    cr_assert_null(b.p);
}

Test(tool_escape, bad_hex_is_refused)
{
    tool_bytes b = {0};
    cr_assert_not(tool_unescape("t", "-D", "ab\\xg", &b));
    cr_assert_not(tool_unescape("t", "-D", "\\x", &b));
    cr_assert_null(b.p);
}
