/* criterion_lite/criterion/criterion.h — the subset of Criterion's API that
 * gregor's tests use, for ThreadSanitizer builds.
 *
 * Criterion cannot start under ThreadSanitizer (its sandbox maps an
 * "inheritable arena" where TSan keeps shadow memory: Criterion issue #274),
 * so the TSan build compiles the same test files against this header and
 * runner.c instead: each test runs in a forked child with its suite's and
 * its own init/fini and a timeout; the runner prints "[PASS]" / "[FAIL]" per
 * test and a closing "N passed, N failed" line, and exits non-zero on any
 * failure. Only what the tests use is here: Test, TestSuite (.init, .fini,
 * .timeout) and the cr_assert family.
 *
 * Threading: assertions may fail on any thread; the child exits at once.
 */
#ifndef GREGOR_CRITERION_LITE_H
#define GREGOR_CRITERION_LITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct criterion_test_extra_data {
    void (*init)(void);
    void (*fini)(void);
    double timeout;
};

struct crl_test {
    const char *suite;
    const char *name;
    void (*fn)(void);
    const struct criterion_test_extra_data *extra;
    struct crl_test *next;
};

struct crl_suite {
    const char *name;
    const struct criterion_test_extra_data *extra;
    struct crl_suite *next;
};

void crl_register_test(struct crl_test *t);
void crl_register_suite(struct crl_suite *s);
/* Reports a failed assertion (`fmt` may be empty) and ends the test. */
_Noreturn void crl_fail(const char *file, int line, const char *expr, const char *fmt, ...);

#define Test(suite_, name_, ...)                                                                   \
    static void crl_fn_##suite_##_##name_(void);                                                   \
    static const struct criterion_test_extra_data crl_extra_##suite_##_##name_ = {__VA_ARGS__};    \
    static struct crl_test crl_test_##suite_##_##name_ = {                                         \
        #suite_, #name_, crl_fn_##suite_##_##name_, &crl_extra_##suite_##_##name_, NULL};          \
    __attribute__((constructor)) static void crl_reg_##suite_##_##name_(void)                      \
    {                                                                                              \
        crl_register_test(&crl_test_##suite_##_##name_);                                           \
    }                                                                                              \
    static void crl_fn_##suite_##_##name_(void)

#define TestSuite(suite_, ...)                                                                     \
    static const struct criterion_test_extra_data crl_suite_extra_##suite_ = {__VA_ARGS__};        \
    static struct crl_suite crl_suite_##suite_ = {#suite_, &crl_suite_extra_##suite_, NULL};       \
    __attribute__((constructor)) static void crl_reg_suite_##suite_(void)                          \
    {                                                                                              \
        crl_register_suite(&crl_suite_##suite_);                                                   \
    }

#define CRL_CHECK(cond, expr, ...)                                                                 \
    do {                                                                                           \
        if (!(cond))                                                                               \
            crl_fail(__FILE__, __LINE__, expr, "" __VA_ARGS__);                                    \
    } while (0)

#define cr_assert(c, ...) CRL_CHECK((c), #c, __VA_ARGS__)
#define cr_assert_fail(...) crl_fail(__FILE__, __LINE__, "cr_assert_fail", "" __VA_ARGS__)
#define cr_assert_not(c, ...) CRL_CHECK(!(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_null(p, ...) CRL_CHECK((p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) CRL_CHECK((p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) CRL_CHECK((a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) CRL_CHECK((a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) CRL_CHECK((a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) CRL_CHECK((a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) CRL_CHECK((a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) CRL_CHECK((a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) CRL_CHECK(strcmp((a), (b)) == 0, #a " equals " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) CRL_CHECK(strcmp((a), (b)) != 0, #a " differs from " #b, __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...) CRL_CHECK(memcmp((a), (b), (n)) == 0, #a " equals " #b, __VA_ARGS__)
#define cr_expect cr_assert
#define cr_expect_eq cr_assert_eq

#endif
