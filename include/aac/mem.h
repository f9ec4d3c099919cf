/*
 * mem: the one way the service's arrays grow.
 */
#ifndef AAC_MEM_H
#define AAC_MEM_H

#include <stddef.h>

/* Makes room for `need` elements of `elem` bytes in the array *p, whose
 * capacity is *cap elements: when need > *cap, the capacity doubles (from
 * 16) until need fits and *p is reallocated. Returns 0, or -1 when out of
 * memory or when the size would not fit a size_t; then *p and *cap are
 * unchanged (and *p still valid). Pass the array's address as (void **). */
int aac_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
