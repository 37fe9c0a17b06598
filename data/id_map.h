/* id_map.h — int64 id -> int64 index, O(1): COCO ids are arbitrary
 * integers (sparse, from 0 or 1, sometimes huge), so lookups by id need a
 * hash, not an array. Open addressing with linear probing; -1 is "absent",
 * so stored values must be >= 0. */
#ifndef RFDETR_DATA_ID_MAP_H
#define RFDETR_DATA_ID_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "rfdetr.h"

typedef struct rf_id_map {
    int64_t *keys;
    int64_t *values; /* -1 marks an empty slot */
    size_t capacity; /* a power of two, 0 before the first insert */
    size_t count;
} rf_id_map;

/* Sizes the table for `expected` keys (it still grows past that). */
rf_status rf_id_map_reserve(rf_id_map *m, size_t expected);
/* Maps key to value unless key is already present, in which case the first
 * value is kept. *previous (may be NULL) receives the value already stored,
 * or -1 when this call inserted. */
rf_status rf_id_map_insert(rf_id_map *m, int64_t key, int64_t value, int64_t *previous);
/* Replaces (or inserts) the value of key. */
rf_status rf_id_map_set(rf_id_map *m, int64_t key, int64_t value);
/* The value stored for key, or -1. */
int64_t rf_id_map_get(const rf_id_map *m, int64_t key);
void rf_id_map_free(rf_id_map *m);

#endif
