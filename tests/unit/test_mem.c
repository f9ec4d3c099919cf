/*
 * test_mem: how arrays grow, and that a size that cannot be is refused
 * without touching the array.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aac/mem.h"

static void test_doubles_and_keeps(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    assert_int_equal(aac_grow((void **)&a, &cap, 1, sizeof(*a)), 0);
    assert_int_equal(cap, 16);
    for (int i = 0; i < 16; i++)
        a[i] = i;
    assert_int_equal(aac_grow((void **)&a, &cap, 16, sizeof(*a)), 0); /* fits: no change */
    assert_int_equal(cap, 16);
    assert_int_equal(aac_grow((void **)&a, &cap, 17, sizeof(*a)), 0);
    assert_int_equal(cap, 32);
    assert_int_equal(aac_grow((void **)&a, &cap, 1000, sizeof(*a)), 0);
    assert_int_equal(cap, 1024);
    for (int i = 0; i < 16; i++)
        assert_int_equal(a[i], i); /* realloc kept the contents */
    a[1023] = 7;                   /* ASan: the room is there */
    free(a);
}

static void test_refuses_overflow(void **state)
{
    (void)state;
    char *a = NULL;
    size_t cap = 0;
    assert_int_equal(aac_grow((void **)&a, &cap, 10, 1), 0);
    char *before = a;
    assert_int_equal(aac_grow((void **)&a, &cap, SIZE_MAX / 8, 8), -1);
    assert_int_equal(aac_grow((void **)&a, &cap, SIZE_MAX, 1), -1);
    assert_int_equal(aac_grow((void **)&a, &cap, 20, 0), -1);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 16);
    memset(a, 1, cap); /* still valid */
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_and_keeps),
        cmocka_unit_test(test_refuses_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
