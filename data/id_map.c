#include "data/id_map.h"

#include <stdlib.h>

#include "backend/status.h"

/* splitmix64's finalizer: consecutive ids spread over the whole table. */
static size_t hash_id(int64_t key) {
    uint64_t x = (uint64_t)key;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (size_t)x;
}

static size_t find_slot(const rf_id_map *m, int64_t key) {
    size_t mask = m->capacity - 1, i = hash_id(key) & mask;
    while (m->values[i] >= 0 && m->keys[i] != key) i = (i + 1) & mask;
    return i;
}

static rf_status grow(rf_id_map *m, size_t capacity) {
    rf_id_map bigger = {.capacity = capacity};
    bigger.keys = malloc(capacity * sizeof *bigger.keys);
    bigger.values = malloc(capacity * sizeof *bigger.values);
    if (!bigger.keys || !bigger.values) {
        free(bigger.keys);
        free(bigger.values);
        return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for an id table of %zu slots", capacity);
    }
    for (size_t i = 0; i < capacity; i++) bigger.values[i] = -1;
    for (size_t i = 0; i < m->capacity; i++) {
        if (m->values[i] < 0) continue;
        size_t j = find_slot(&bigger, m->keys[i]);
        bigger.keys[j] = m->keys[i];
        bigger.values[j] = m->values[i];
    }
    bigger.count = m->count;
    rf_id_map_free(m);
    *m = bigger;
    return RF_OK;
}

rf_status rf_id_map_reserve(rf_id_map *m, size_t expected) {
    size_t capacity = 16;
    while (capacity < 2 * expected) capacity *= 2; /* load factor <= 1/2 keeps probes short */
    return capacity > m->capacity ? grow(m, capacity) : RF_OK;
}

static rf_status slot_for(rf_id_map *m, int64_t key, size_t *slot) {
    if (2 * (m->count + 1) > m->capacity) RF_TRY(grow(m, m->capacity ? 2 * m->capacity : 16));
    *slot = find_slot(m, key);
    return RF_OK;
}

rf_status rf_id_map_insert(rf_id_map *m, int64_t key, int64_t value, int64_t *previous) {
    size_t i;
    RF_TRY(slot_for(m, key, &i));
    if (previous) *previous = m->values[i];
    if (m->values[i] >= 0) return RF_OK;
    m->keys[i] = key;
    m->values[i] = value;
    m->count++;
    return RF_OK;
}

rf_status rf_id_map_set(rf_id_map *m, int64_t key, int64_t value) {
    size_t i;
    RF_TRY(slot_for(m, key, &i));
    if (m->values[i] < 0) m->count++;
    m->keys[i] = key;
    m->values[i] = value;
    return RF_OK;
}

int64_t rf_id_map_get(const rf_id_map *m, int64_t key) {
    if (!m || m->capacity == 0) return -1;
    return m->values[find_slot(m, key)];
}

void rf_id_map_free(rf_id_map *m) {
    free(m->keys);
    free(m->values);
    m->keys = NULL;
    m->values = NULL;
    m->capacity = m->count = 0;
}
