/* criterion_lite/runner.c — runs the tests registered through
 * criterion_lite/criterion/criterion.h; see there. Usage: TEST [--jobs N]
 * (accepted and ignored: tests run one at a time). */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criterion/criterion.h"

static struct crl_test *tests;
static struct crl_suite *suites;

void crl_register_test(struct crl_test *t)
{
    t->next = tests;
    tests = t;
}

void crl_register_suite(struct crl_suite *s)
{
    s->next = suites;
    suites = s;
}

void crl_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
    fprintf(stderr, "%s:%d: assertion failed: %s", file, line, expr);
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs(": ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

static const struct criterion_test_extra_data *suite_of(const char *name)
{
    for (struct crl_suite *s = suites; s; s = s->next)
        if (!strcmp(s->name, name))
            return s->extra;
    return NULL;
}

static void run_child(const struct crl_test *t, const struct criterion_test_extra_data *se)
{
    if (se && se->init)
        se->init();
    if (t->extra->init)
        t->extra->init();
    t->fn();
    if (t->extra->fini)
        t->extra->fini();
    if (se && se->fini)
        se->fini();
    fflush(NULL);
    exit(0);
}

static int run_one(const struct crl_test *t)
{
    const struct criterion_test_extra_data *se = suite_of(t->suite);
    double timeout = t->extra->timeout > 0 ? t->extra->timeout : (se && se->timeout > 0 ? se->timeout : 300);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        alarm((unsigned)timeout + 1);
        run_child(t, se);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok)
        printf("[PASS] %s::%s\n", t->suite, t->name);
    else if (WIFSIGNALED(status))
        printf("[FAIL] %s::%s: %s\n", t->suite, t->name,
               WTERMSIG(status) == SIGALRM ? "timed out" : strsignal(WTERMSIG(status)));
    else
        printf("[FAIL] %s::%s: exit status %d\n", t->suite, t->name, WEXITSTATUS(status));
    fflush(stdout);
    return ok ? 0 : 1;
}

int main(void)
{
    /* Registration order is reversed; restore the source order. */
    struct crl_test *ordered = NULL;
    while (tests) {
        struct crl_test *t = tests;
        tests = t->next;
        t->next = ordered;
        ordered = t;
    }
    int passed = 0, failed = 0;
    for (struct crl_test *t = ordered; t; t = t->next) {
        if (run_one(t))
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
