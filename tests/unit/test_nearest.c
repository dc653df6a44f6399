/* Unit tests for util/nearest: the edit distance and the nearest name
 * proposed in "did you mean" messages. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "util/nearest.h"

Test(nearest, distance)
{
    cr_assert_eq(nearest_distance("", ""), 0);
    cr_assert_eq(nearest_distance("abc", ""), 3);
    cr_assert_eq(nearest_distance("", "abc"), 3);
    cr_assert_eq(nearest_distance("kitten", "sitting"), 3);
    cr_assert_eq(nearest_distance("splitwords", "split_words"), 1);
    cr_assert_eq(nearest_distance("Flaky", "flaky"), 0);
    char long_name[NEAREST_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    cr_assert_eq(nearest_distance(long_name, "a"), SIZE_MAX);
    long_name[NEAREST_NAME_MAX] = '\0';
    cr_assert_eq(nearest_distance(long_name, long_name), 0);
}

Test(nearest, name)
{
    const char *names[] = {"count_words", NULL, "flaky", "json_route", "passthrough", "split_words"};
    cr_assert_str_eq(nearest_name("splitwords", names, 6), "split_words");
    cr_assert_str_eq(nearest_name("flakey", names, 6), "flaky");
    cr_assert_str_eq(nearest_name("passthru", names, 6), "passthrough");
    cr_assert_str_eq(nearest_name("json_route", names, 6), "json_route");
    cr_assert_null(nearest_name("upper", names, 6));
    cr_assert_null(nearest_name("x", names, 6));
    cr_assert_null(nearest_name("flaky", names, 0));
}
