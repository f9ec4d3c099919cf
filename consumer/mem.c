/*
 * mem: see include/aac/mem.h.
 */
#include "aac/mem.h"

#include <stdint.h>
#include <stdlib.h>

#define FIRST_CAPACITY 16

int aac_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    if (elem == 0 || need > SIZE_MAX / 2 / elem)
        return -1;
    size_t n = *cap ? *cap : FIRST_CAPACITY;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}
