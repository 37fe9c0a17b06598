/* pth_writer.h — writes PyTorch checkpoints (torch.save's ZIP format) from C,
 * so tests can make checkpoints laid out as the rfdetr package saves them
 * without torch: a stored ZIP "archive/..." whose data.pkl is a protocol-2
 * pickle built here opcode by opcode, and one "archive/data/<k>" entry of
 * little-endian float32 per tensor, 64-byte aligned as torch aligns them.
 *
 * Usage: pw_open; emit the pickle with the pw_* calls (pw_tensor writes
 * the storage entry at once); pw_close writes data.pkl, version and the
 * central directory. Values are what torch.load would read back. */
#ifndef RFDETR_TEST_PTH_WRITER_H
#define RFDETR_TEST_PTH_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct pth_writer {
    FILE *f;
    uint64_t offset;
    uint8_t *pickle;
    size_t pickle_size, pickle_capacity;
    uint8_t *directory;
    size_t directory_size, directory_capacity;
    int entries, storages;
    bool failed;
} pth_writer;

static inline void pw_grow(uint8_t **buf, size_t *cap, size_t need, bool *failed) {
    if (need <= *cap) return;
    size_t n = *cap ? *cap : 4096;
    while (n < need) n *= 2;
    uint8_t *grown = realloc(*buf, n);
    if (!grown) {
        *failed = true;
        return;
    }
    *buf = grown;
    *cap = n;
}

static inline void pw_bytes(pth_writer *w, const void *bytes, size_t n) {
    pw_grow(&w->pickle, &w->pickle_capacity, w->pickle_size + n, &w->failed);
    if (w->failed) return;
    memcpy(w->pickle + w->pickle_size, bytes, n);
    w->pickle_size += n;
}

static inline void pw_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* One stored entry, its data aligned to 64 bytes through the local
 * header's extra field (as torch's writer does). */
static inline void pw_entry(pth_writer *w, const char *name, const void *data, size_t n) {
    size_t name_length = strlen(name);
    uint64_t header_offset = w->offset;
    size_t pad = (size_t)((64 - (w->offset + 30 + name_length + 4) % 64) % 64);
    uint32_t crc = (uint32_t)crc32(0, data, (uInt)n);
    uint8_t local[30];
    memset(local, 0, sizeof local);
    pw_le(local, 0x04034b50, 4), pw_le(local + 14, crc, 4), pw_le(local + 18, n, 4), pw_le(local + 22, n, 4);
    pw_le(local + 26, name_length, 2), pw_le(local + 28, 4 + pad, 2);
    uint8_t extra[4 + 64] = {0};
    pw_le(extra, 0x4246, 2), pw_le(extra + 2, pad, 2);
    if (fwrite(local, 1, 30, w->f) != 30 || fwrite(name, 1, name_length, w->f) != name_length ||
        fwrite(extra, 1, 4 + pad, w->f) != 4 + pad || (n && fwrite(data, 1, n, w->f) != n))
        w->failed = true;
    w->offset += 30 + name_length + 4 + pad + n;
    pw_grow(&w->directory, &w->directory_capacity, w->directory_size + 46 + name_length, &w->failed);
    if (w->failed) return;
    uint8_t *c = w->directory + w->directory_size;
    memset(c, 0, 46);
    pw_le(c, 0x02014b50, 4), pw_le(c + 16, crc, 4), pw_le(c + 20, n, 4), pw_le(c + 24, n, 4);
    pw_le(c + 28, name_length, 2), pw_le(c + 42, header_offset, 4);
    memcpy(c + 46, name, name_length);
    w->directory_size += 46 + name_length;
    w->entries++;
}

static inline bool pw_open(pth_writer *w, const char *path) {
    memset(w, 0, sizeof *w);
    w->f = fopen(path, "wb");
    if (!w->f) return false;
    pw_bytes(w, "\x80\x02", 2); /* PROTO 2 */
    return true;
}

/* ---- pickle opcodes --------------------------------------------------------- */
static inline void pw_op(pth_writer *w, char op) { pw_bytes(w, &op, 1); }
static inline void pw_mark(pth_writer *w) { pw_op(w, '('); }
static inline void pw_tuple(pth_writer *w) { pw_op(w, 't'); }          /* MARK ... TUPLE */
static inline void pw_empty_dict(pth_writer *w) { pw_op(w, '}'); }
static inline void pw_setitems(pth_writer *w) { pw_op(w, 'u'); }       /* dict MARK k v ... SETITEMS */
static inline void pw_empty_list(pth_writer *w) { pw_op(w, ']'); }
static inline void pw_appends(pth_writer *w) { pw_op(w, 'e'); }        /* list MARK x ... APPENDS */
static inline void pw_none(pth_writer *w) { pw_op(w, 'N'); }
static inline void pw_bool(pth_writer *w, bool v) { pw_op(w, v ? (char)0x88 : (char)0x89); }

static inline void pw_int(pth_writer *w, int32_t v) {
    uint8_t b[5] = {'J'};
    pw_le(b + 1, (uint32_t)v, 4);
    pw_bytes(w, b, 5);
}

static inline void pw_str(pth_writer *w, const char *s) {
    uint8_t b[5] = {'X'};
    pw_le(b + 1, strlen(s), 4);
    pw_bytes(w, b, 5);
    pw_bytes(w, s, strlen(s));
}

static inline void pw_global(pth_writer *w, const char *module, const char *name) {
    pw_op(w, 'c');
    pw_bytes(w, module, strlen(module));
    pw_op(w, '\n');
    pw_bytes(w, name, strlen(name));
    pw_op(w, '\n');
}

/* An object of class module.name with these fields, as protocol 2 pickles
 * argparse.Namespace: cls.__new__(cls) then BUILD with its __dict__.
 * Emit the fields' key/value pairs between pw_object_begin and _end. */
static inline void pw_object_begin(pth_writer *w, const char *module, const char *name) {
    pw_global(w, module, name);
    pw_op(w, ')');          /* EMPTY_TUPLE */
    pw_op(w, (char)0x81);   /* NEWOBJ */
    pw_empty_dict(w);
    pw_mark(w);
}
static inline void pw_object_end(pth_writer *w) {
    pw_setitems(w);
    pw_op(w, 'b');          /* BUILD */
}

/* A float32 tensor: its storage entry is written now, and the pickle gets
 * torch._utils._rebuild_tensor_v2(storage, 0, shape, contiguous strides,
 * False, OrderedDict()). */
static inline void pw_tensor(pth_writer *w, const float *values, int ndim, const int64_t *shape) {
    int64_t numel = 1, stride[8];
    for (int d = ndim - 1; d >= 0; d--) {
        stride[d] = numel;
        numel *= shape[d];
    }
    char key[32], entry[64];
    snprintf(key, sizeof key, "%d", w->storages++);
    snprintf(entry, sizeof entry, "archive/data/%s", key);
    pw_entry(w, entry, values, (size_t)numel * sizeof *values);
    pw_global(w, "torch._utils", "_rebuild_tensor_v2");
    pw_mark(w);
    pw_mark(w);
    pw_str(w, "storage");
    pw_global(w, "torch", "FloatStorage");
    pw_str(w, key);
    pw_str(w, "cpu");
    pw_int(w, (int32_t)numel);
    pw_tuple(w);
    pw_op(w, 'Q'); /* BINPERSID */
    pw_int(w, 0);
    pw_mark(w);
    for (int d = 0; d < ndim; d++) pw_int(w, (int32_t)shape[d]);
    pw_tuple(w);
    pw_mark(w);
    for (int d = 0; d < ndim; d++) pw_int(w, (int32_t)stride[d]);
    pw_tuple(w);
    pw_bool(w, false);
    pw_global(w, "collections", "OrderedDict");
    pw_op(w, ')');
    pw_op(w, 'R'); /* REDUCE */
    pw_tuple(w);
    pw_op(w, 'R');
}

/* Ends the pickle (STOP) and the archive. Returns false if anything failed. */
static inline bool pw_close(pth_writer *w) {
    pw_op(w, '.');
    if (!w->failed) pw_entry(w, "archive/data.pkl", w->pickle, w->pickle_size);
    pw_entry(w, "archive/byteorder", "little", 6);
    pw_entry(w, "archive/version", "3\n", 2);
    uint64_t directory_offset = w->offset;
    if (!w->failed && fwrite(w->directory, 1, w->directory_size, w->f) != w->directory_size) w->failed = true;
    uint8_t end[22] = {0};
    pw_le(end, 0x06054b50, 4), pw_le(end + 8, (uint64_t)w->entries, 2), pw_le(end + 10, (uint64_t)w->entries, 2);
    pw_le(end + 12, w->directory_size, 4), pw_le(end + 16, directory_offset, 4);
    if (fwrite(end, 1, 22, w->f) != 22) w->failed = true;
    if (fclose(w->f) != 0) w->failed = true;
    free(w->pickle);
    free(w->directory);
    return !w->failed;
}

#endif /* RFDETR_TEST_PTH_WRITER_H */
