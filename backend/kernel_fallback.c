/* kernel_fallback.c — slot names, and running a slot a backend leaves empty
 * on the host: the cpu kernel on host copies of every buffer the args name,
 * which are then written back. Slow (whole buffers cross the bus both ways)
 * and meant for bringing a backend up: a new backend passes its first test
 * with buffers and GEMM alone, and test_backend_ops lists what is missing. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/kernels.h"
#include "backend/profile.h"
#include "backend/status.h"

const char *const rf_kernel_slot_names[RF_SLOT_COUNT] = {
#define RF_KERNEL_SLOT(family, slot, args_type, bufs, where) #slot,
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT
};

const char *const rf_kernel_slot_families[RF_SLOT_COUNT] = {
#define RF_KERNEL_SLOT(family, slot, args_type, bufs, where) #family,
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT
};

bool rf_kernels_has(const rf_kernels *k, rf_kernel_slot slot) {
    switch (slot) {
#define RF_KERNEL_SLOT(family, slot, args_type, bufs, where) \
    case RF_SLOT_##slot: return k->slot != NULL;
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT
    default: return false;
    }
}

/* offsetof(T, f) for each field f of a parenthesised list (up to 12). */
#define FB_OFF(T, f) offsetof(T, f),
#define FB_E1(T, a) FB_OFF(T, a)
#define FB_E2(T, a, ...) FB_OFF(T, a) FB_E1(T, __VA_ARGS__)
#define FB_E3(T, a, ...) FB_OFF(T, a) FB_E2(T, __VA_ARGS__)
#define FB_E4(T, a, ...) FB_OFF(T, a) FB_E3(T, __VA_ARGS__)
#define FB_E5(T, a, ...) FB_OFF(T, a) FB_E4(T, __VA_ARGS__)
#define FB_E6(T, a, ...) FB_OFF(T, a) FB_E5(T, __VA_ARGS__)
#define FB_E7(T, a, ...) FB_OFF(T, a) FB_E6(T, __VA_ARGS__)
#define FB_E8(T, a, ...) FB_OFF(T, a) FB_E7(T, __VA_ARGS__)
#define FB_E9(T, a, ...) FB_OFF(T, a) FB_E8(T, __VA_ARGS__)
#define FB_E10(T, a, ...) FB_OFF(T, a) FB_E9(T, __VA_ARGS__)
#define FB_E11(T, a, ...) FB_OFF(T, a) FB_E10(T, __VA_ARGS__)
#define FB_E12(T, a, ...) FB_OFF(T, a) FB_E11(T, __VA_ARGS__)
#define FB_NTH(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, N, ...) N
#define FB_PICK(...) FB_NTH(__VA_ARGS__, FB_E12, FB_E11, FB_E10, FB_E9, FB_E8, FB_E7, FB_E6, FB_E5, FB_E4, FB_E3, FB_E2, FB_E1, 0)
#define FB_OFFSETS_(T, ...) FB_PICK(__VA_ARGS__)(T, __VA_ARGS__)
#define FB_OFFSETS(T, fields) FB_OFFSETS_(T, FB_UNPAREN fields)
#define FB_UNPAREN(...) __VA_ARGS__

#define FB_MAX_FIELDS 12

typedef struct fallback_desc {
    size_t args_size;
    size_t fields[FB_MAX_FIELDS];
    int nfields;
} fallback_desc;

#define RF_KERNEL_SLOT(family, slot, args_type, bufs, where)                                                  \
    static const size_t fb_fields_##slot[] = {FB_OFFSETS(args_type, bufs)};
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT

static fallback_desc desc_of(rf_kernel_slot slot) {
    fallback_desc d = {0};
    switch (slot) {
#define RF_KERNEL_SLOT(family, slot, args_type, bufs, where)                                                  \
    case RF_SLOT_##slot:                                                                                         \
        d.args_size = sizeof(args_type);                                                                         \
        d.nfields = (int)(sizeof fb_fields_##slot / sizeof fb_fields_##slot[0]);                                 \
        memcpy(d.fields, fb_fields_##slot, sizeof fb_fields_##slot);                                             \
        break;
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT
    default: break;
    }
    return d;
}

static rf_status run_cpu(rf_device *host, rf_kernel_slot slot, const void *args) {
    switch (slot) {
#define RF_KERNEL_SLOT(family, slot, args_type, bufs, where) \
    case RF_SLOT_##slot: return rf_cpu_kernels.slot(host, (const args_type *)args);
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT
    default: return RF_ERROR(RF_ERR_INTERNAL, "kernel slot %d does not exist", (int)slot);
    }
}

rf_status rf_kernel_run(rf_device *dev, rf_kernel_slot slot, const void *args) {
    switch (slot) {
#define RF_KERNEL_SLOT(family, slot, args_type, bufs, where)                                                  \
    case RF_SLOT_##slot:                                                                                         \
        if (!dev->kernels->slot) return rf_kernel_fallback(dev, RF_SLOT_##slot, args);                            \
        if (!dev->gpu) dev->counters.kernel_launches++;                                                          \
        return dev->kernels->slot(dev, (const args_type *)args);
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT
    default: return RF_ERROR(RF_ERR_INTERNAL, "kernel slot %d does not exist", (int)slot);
    }
}

/* The largest args struct, so a copy fits on the stack. */
typedef union any_args {
#define RF_KERNEL_SLOT(family, slot, args_type, bufs, where) args_type slot;
#include "backend/kernel_list.h"
#undef RF_KERNEL_SLOT
} any_args;

rf_status rf_kernel_fallback(rf_device *dev, rf_kernel_slot slot, const void *args) {
    if ((int)slot < 0 || slot >= RF_SLOT_COUNT) return RF_ERROR(RF_ERR_INTERNAL, "kernel slot %d does not exist", (int)slot);
    if (!dev->host) {
        rf_device_options options = {0};
        RF_TRY(rf_backend_cpu.open(0, &options, &dev->host));
    }
    dev->counters.host_fallbacks++;
    if (!(dev->fallback_warned[slot / 64] & (1ull << (slot % 64)))) {
        dev->fallback_warned[slot / 64] |= 1ull << (slot % 64);
        fprintf(stderr, "rfdetr: warning: %s has no %s kernel yet; it runs on the host (slow)\n", dev->info.name,
                rf_kernel_slot_names[slot]);
    }
    fallback_desc d = desc_of(slot);
    any_args copy;
    memcpy(&copy, args, d.args_size);
    const rf_buffer *device_bufs[FB_MAX_FIELDS] = {0};
    rf_buffer *host_bufs[FB_MAX_FIELDS] = {0};
    int nbufs = 0;
    rf_status s = RF_OK;
    for (int f = 0; f < d.nfields && s == RF_OK; f++) {
        const rf_buffer **field = (const rf_buffer **)((char *)&copy + d.fields[f]);
        if (!*field) continue;
        int b = 0;
        while (b < nbufs && device_bufs[b] != *field) b++; /* a buffer named twice maps to one copy */
        if (b == nbufs) {
            device_bufs[b] = *field;
            s = rf_buffer_alloc(dev->host, (*field)->bytes ? (*field)->bytes : 1, &host_bufs[b]);
            if (s == RF_OK) s = rf_buffer_download(*field, 0, host_bufs[b]->native, (*field)->bytes);
            nbufs++;
        }
        *field = host_bufs[b];
    }
    if (s == RF_OK) s = run_cpu(dev->host, slot, &copy);
    for (int b = 0; b < nbufs && s == RF_OK; b++)
        s = rf_buffer_upload((rf_buffer *)device_bufs[b], 0, host_bufs[b]->native, device_bufs[b]->bytes);
    for (int b = 0; b < nbufs; b++) rf_buffer_free(host_bufs[b]);
    return s;
}
