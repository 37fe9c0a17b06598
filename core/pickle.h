/* pickle.h — a safe reader for the subset of Python's pickle format that
 * torch.save writes (protocols 2-5 binary opcodes).
 *
 * Nothing is ever executed. The reader builds a plain object graph: None,
 * bool, int, float, str, bytes, tuple, list, dict, and three kinds that
 * stand for what a real unpickler would construct:
 *   - a torch storage, from the persistent id torch writes for each one,
 *     ('storage', torch.FloatStorage, key, location, numel);
 *   - a tensor, from torch._utils._rebuild_tensor_v2 (and v1/v3,
 *     _rebuild_parameter*, _rebuild_from_type_v2), holding its storage,
 *     offset, shape and strides;
 *   - an opaque object for any other class or function (argparse.Namespace,
 *     numpy scalars, ...): its arguments are parsed and dropped; a dict
 *     given to it by BUILD (an object's __dict__ or __getstate__, which is
 *     how a Namespace's fields travel) is kept as its state.
 * collections.OrderedDict becomes a dict. Malformed input is RF_ERR_FORMAT;
 * opcodes outside the subset are RF_ERR_UNSUPPORTED naming the opcode and
 * its byte offset. */
#ifndef RFDETR_PICKLE_H
#define RFDETR_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor_file.h"
#include "rfdetr.h"

typedef enum rf_pickle_kind {
    RF_PICKLE_NONE,
    RF_PICKLE_BOOL,
    RF_PICKLE_INT,
    RF_PICKLE_FLOAT,
    RF_PICKLE_STR,     /* UTF-8 */
    RF_PICKLE_BYTES,
    RF_PICKLE_TUPLE,
    RF_PICKLE_LIST,
    RF_PICKLE_DICT,
    RF_PICKLE_GLOBAL,  /* a class or function named by module and name */
    RF_PICKLE_STORAGE,
    RF_PICKLE_TENSOR,
    RF_PICKLE_OPAQUE,
} rf_pickle_kind;

typedef struct rf_pickle_object rf_pickle_object;

struct rf_pickle_object {
    rf_pickle_kind kind;
    union {
        bool boolean;
        int64_t integer;         /* ints beyond int64 are refused */
        double number;
        struct {
            char *bytes;         /* NUL-terminated for convenience */
            size_t length;
        } str;                   /* STR and BYTES */
        struct {
            rf_pickle_object **items;
            int count, capacity;
        } seq;                   /* TUPLE and LIST */
        struct {
            rf_pickle_object **keys, **values;
            int count, capacity;
        } dict;                  /* insertion order, keys unique */
        struct {
            char *module, *name;
        } global;
        struct {
            const char *storage_type; /* "FloatStorage", ... (borrowed from the GLOBAL) */
            bool dtype_known;
            rf_file_dtype dtype;
            const char *key;     /* the archive entry data/<key> */
            int64_t numel;       /* elements of dtype */
        } storage;
        struct {
            rf_pickle_object *storage;
            int64_t offset;      /* in elements */
            int ndim;            /* ≤ RF_TENSOR_MAX_DIMS */
            int64_t shape[RF_TENSOR_MAX_DIMS];
            int64_t stride[RF_TENSOR_MAX_DIMS];
        } tensor;
        struct {
            const rf_pickle_object *type; /* the GLOBAL called or instantiated */
            rf_pickle_object *state;      /* BUILD's dict, or NULL */
        } opaque;
    } as;
};

typedef struct rf_pickle rf_pickle;

/* Parses data[0..size) up to STOP. *root is owned by *out. `label` names
 * the input in messages. */
rf_status rf_pickle_load(const uint8_t *data, size_t size, const char *label, rf_pickle **out, rf_pickle_object **root);
void rf_pickle_free(rf_pickle *pickle);

/* Dict lookup by str key; NULL when absent or `dict` is not a dict. */
rf_pickle_object *rf_pickle_dict_get(const rf_pickle_object *dict, const char *key);

#endif /* RFDETR_PICKLE_H */
