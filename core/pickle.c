#include "core/pickle.h"

#include <stdlib.h>
#include <string.h>

#include "backend/status.h"

struct rf_pickle {
    rf_pickle_object **objects; /* every object allocated, for freeing */
    size_t count, capacity;
};

/* ---- opcodes ------------------------------------------------------------------ */

/* Every opcode of protocols 0-5, so messages can name what they meet. */
static const struct {
    uint8_t code;
    const char *name;
} opcode_names[] = {
    {'(', "MARK"},          {'.', "STOP"},           {'0', "POP"},           {'1', "POP_MARK"},
    {'2', "DUP"},           {'F', "FLOAT"},          {'I', "INT"},           {'J', "BININT"},
    {'K', "BININT1"},       {'L', "LONG"},           {'M', "BININT2"},       {'N', "NONE"},
    {'P', "PERSID"},        {'Q', "BINPERSID"},      {'R', "REDUCE"},        {'S', "STRING"},
    {'T', "BINSTRING"},     {'U', "SHORT_BINSTRING"}, {'V', "UNICODE"},      {'X', "BINUNICODE"},
    {'a', "APPEND"},        {'b', "BUILD"},          {'c', "GLOBAL"},        {'d', "DICT"},
    {'}', "EMPTY_DICT"},    {'e', "APPENDS"},        {'g', "GET"},           {'h', "BINGET"},
    {'i', "INST"},          {'j', "LONG_BINGET"},    {'l', "LIST"},          {']', "EMPTY_LIST"},
    {'o', "OBJ"},           {'p', "PUT"},            {'q', "BINPUT"},        {'r', "LONG_BINPUT"},
    {'s', "SETITEM"},       {'t', "TUPLE"},          {')', "EMPTY_TUPLE"},   {'u', "SETITEMS"},
    {'G', "BINFLOAT"},      {0x80, "PROTO"},         {0x81, "NEWOBJ"},       {0x82, "EXT1"},
    {0x83, "EXT2"},         {0x84, "EXT4"},          {0x85, "TUPLE1"},       {0x86, "TUPLE2"},
    {0x87, "TUPLE3"},       {0x88, "NEWTRUE"},       {0x89, "NEWFALSE"},     {0x8a, "LONG1"},
    {0x8b, "LONG4"},        {'B', "BINBYTES"},       {'C', "SHORT_BINBYTES"}, {0x8c, "SHORT_BINUNICODE"},
    {0x8d, "BINUNICODE8"},  {0x8e, "BINBYTES8"},     {0x8f, "EMPTY_SET"},    {0x90, "ADDITEMS"},
    {0x91, "FROZENSET"},    {0x92, "NEWOBJ_EX"},     {0x93, "STACK_GLOBAL"}, {0x94, "MEMOIZE"},
    {0x95, "FRAME"},        {0x96, "BYTEARRAY8"},    {0x97, "NEXT_BUFFER"},  {0x98, "READONLY_BUFFER"},
};

static const char *opcode_name(uint8_t code) {
    for (size_t k = 0; k < sizeof opcode_names / sizeof opcode_names[0]; k++)
        if (opcode_names[k].code == code) return opcode_names[k].name;
    return NULL;
}

/* ---- the machine ------------------------------------------------------------------ */

typedef struct machine {
    const uint8_t *data;
    size_t size, pos;
    size_t op_pos; /* offset of the opcode being executed */
    uint8_t op;
    const char *label;
    rf_pickle *pickle;
    rf_pickle_object **stack;
    size_t depth, stack_capacity;
    size_t *marks;
    size_t mark_count, mark_capacity;
    rf_pickle_object **memo;
    size_t memo_size;  /* slots allocated (entries may be NULL) */
    size_t memo_count; /* slots holding an object: Python's len(memo) */
} machine;

static rf_status fail(const machine *m, rf_status status, const char *what) {
    const char *name = opcode_name(m->op);
    return RF_ERROR(status, "%s: pickle opcode %s (0x%02x) at byte %zu: %s", m->label, name ? name : "?", m->op, m->op_pos,
                    what);
}

static rf_status out_of_memory(const machine *m) { return fail(m, RF_ERR_OUT_OF_MEMORY, "out of host memory"); }

/* Grows *array (of `size`-byte elements) to hold at least `needed`. */
static bool grow(void **array, size_t *capacity, size_t needed, size_t size) {
    if (needed <= *capacity) return true;
    size_t cap = *capacity ? *capacity : 16;
    while (cap < needed) cap *= 2;
    void *p = realloc(*array, cap * size);
    if (!p) return false;
    *array = p;
    *capacity = cap;
    return true;
}

static rf_pickle_object *new_object(machine *m, rf_pickle_kind kind) {
    rf_pickle *p = m->pickle;
    if (!grow((void **)&p->objects, &p->capacity, p->count + 1, sizeof *p->objects)) return NULL;
    rf_pickle_object *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->kind = kind;
    p->objects[p->count++] = o;
    return o;
}

static rf_status push(machine *m, rf_pickle_object *o) {
    if (!o) return out_of_memory(m);
    if (!grow((void **)&m->stack, &m->stack_capacity, m->depth + 1, sizeof *m->stack)) return out_of_memory(m);
    m->stack[m->depth++] = o;
    return RF_OK;
}

/* The lowest stack position above the innermost mark. */
static size_t stack_floor(const machine *m) { return m->mark_count ? m->marks[m->mark_count - 1] : 0; }

static rf_status pop(machine *m, rf_pickle_object **o) {
    if (m->depth <= stack_floor(m)) return fail(m, RF_ERR_FORMAT, "stack underflow");
    *o = m->stack[--m->depth];
    return RF_OK;
}

static rf_status top(machine *m, rf_pickle_object **o) {
    if (m->depth <= stack_floor(m)) return fail(m, RF_ERR_FORMAT, "stack underflow");
    *o = m->stack[m->depth - 1];
    return RF_OK;
}

/* Pops the innermost mark: the items above it are stack[*start .. depth),
 * which the caller consumes before resetting depth to *start. */
static rf_status pop_mark(machine *m, size_t *start) {
    if (m->mark_count == 0) return fail(m, RF_ERR_FORMAT, "no MARK on the stack");
    *start = m->marks[--m->mark_count];
    return RF_OK;
}

static rf_status take(machine *m, size_t n, const uint8_t **bytes) {
    if (n > m->size - m->pos) return fail(m, RF_ERR_FORMAT, "truncated: operand runs past the end of the pickle");
    *bytes = m->data + m->pos;
    m->pos += n;
    return RF_OK;
}

static rf_status take_uint(machine *m, int width, uint64_t *value) {
    const uint8_t *b = NULL;
    RF_TRY(take(m, (size_t)width, &b));
    uint64_t v = 0;
    for (int k = width - 1; k >= 0; k--) v = v << 8 | b[k];
    *value = v;
    return RF_OK;
}

static rf_pickle_object *new_string(machine *m, rf_pickle_kind kind, const uint8_t *bytes, size_t length) {
    rf_pickle_object *o = new_object(m, kind);
    if (!o) return NULL;
    o->as.str.bytes = malloc(length + 1);
    if (!o->as.str.bytes) return NULL; /* the object is freed with the pickle */
    memcpy(o->as.str.bytes, bytes, length);
    o->as.str.bytes[length] = '\0';
    o->as.str.length = length;
    return o;
}

static rf_pickle_object *new_int(machine *m, int64_t v) {
    rf_pickle_object *o = new_object(m, RF_PICKLE_INT);
    if (o) o->as.integer = v;
    return o;
}

static rf_status push_string(machine *m, rf_pickle_kind kind, int width) {
    uint64_t length = 0;
    const uint8_t *bytes = NULL;
    RF_TRY(take_uint(m, width, &length));
    if (length > m->size - m->pos) return fail(m, RF_ERR_FORMAT, "truncated: string runs past the end of the pickle");
    RF_TRY(take(m, (size_t)length, &bytes));
    return push(m, new_string(m, kind, bytes, (size_t)length));
}

/* LONG1 / LONG4: little-endian two's complement. Beyond 64 bits the value
 * becomes an opaque object (torch never needs one; argparse defaults might). */
static rf_status push_long(machine *m, int width) {
    uint64_t length = 0;
    const uint8_t *b = NULL;
    RF_TRY(take_uint(m, width, &length));
    if (length > m->size - m->pos) return fail(m, RF_ERR_FORMAT, "truncated: integer runs past the end of the pickle");
    RF_TRY(take(m, (size_t)length, &b));
    if (length > 8) return push(m, new_object(m, RF_PICKLE_OPAQUE));
    uint64_t v = 0;
    for (int k = (int)length - 1; k >= 0; k--) v = v << 8 | b[k];
    if (length > 0 && length < 8 && (b[length - 1] & 0x80)) v |= ~0ull << (8 * length); /* sign-extend */
    return push(m, new_int(m, (int64_t)v));
}

static rf_status push_global(machine *m, const char *module, size_t module_length, const char *name, size_t name_length) {
    rf_pickle_object *o = new_object(m, RF_PICKLE_GLOBAL);
    if (!o) return out_of_memory(m);
    o->as.global.module = strndup(module, module_length);
    o->as.global.name = strndup(name, name_length);
    if (!o->as.global.module || !o->as.global.name) return out_of_memory(m);
    return push(m, o);
}

/* GLOBAL: "module\nname\n" as text. */
static rf_status op_global(machine *m) {
    const uint8_t *start = m->data + m->pos;
    const uint8_t *nl1 = memchr(start, '\n', m->size - m->pos);
    const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(m->data + m->size - (nl1 + 1))) : NULL;
    if (!nl2) return fail(m, RF_ERR_FORMAT, "truncated: GLOBAL needs two newline-terminated names");
    m->pos = (size_t)(nl2 + 1 - m->data);
    return push_global(m, (const char *)start, (size_t)(nl1 - start), (const char *)nl1 + 1, (size_t)(nl2 - nl1 - 1));
}

static rf_status op_stack_global(machine *m) {
    rf_pickle_object *name = NULL, *module = NULL;
    RF_TRY(pop(m, &name));
    RF_TRY(pop(m, &module));
    if (name->kind != RF_PICKLE_STR || module->kind != RF_PICKLE_STR)
        return fail(m, RF_ERR_FORMAT, "STACK_GLOBAL needs two strings");
    return push_global(m, module->as.str.bytes, module->as.str.length, name->as.str.bytes, name->as.str.length);
}

static bool is_global(const rf_pickle_object *o, const char *module, const char *name) {
    return o && o->kind == RF_PICKLE_GLOBAL && strcmp(o->as.global.module, module) == 0 &&
           strcmp(o->as.global.name, name) == 0;
}

static rf_status append_item(machine *m, rf_pickle_object *seq, rf_pickle_object *item) {
    size_t capacity = (size_t)seq->as.seq.capacity;
    if ((size_t)seq->as.seq.count >= (size_t)INT32_MAX) return fail(m, RF_ERR_FORMAT, "sequence too long");
    if (!grow((void **)&seq->as.seq.items, &capacity, (size_t)seq->as.seq.count + 1, sizeof *seq->as.seq.items))
        return out_of_memory(m);
    seq->as.seq.capacity = (int)capacity;
    seq->as.seq.items[seq->as.seq.count++] = item;
    return RF_OK;
}

/* Appends without looking for an equal key: lookups take the last match,
 * which is Python's value for a repeated key, and the weight readers refuse
 * repeated names. Keeps building a large dict linear. */
static rf_status dict_set(machine *m, rf_pickle_object *dict, rf_pickle_object *key, rf_pickle_object *value) {
    size_t needed = (size_t)dict->as.dict.count + 1;
    if (needed >= (size_t)INT32_MAX) return fail(m, RF_ERR_FORMAT, "dict too large");
    /* Both arrays start equal and grow by the same doubling, so they stay
     * equal; the capacity is recorded only once both have grown. */
    size_t keys_capacity = (size_t)dict->as.dict.capacity, values_capacity = keys_capacity;
    if (!grow((void **)&dict->as.dict.keys, &keys_capacity, needed, sizeof(rf_pickle_object *)) ||
        !grow((void **)&dict->as.dict.values, &values_capacity, needed, sizeof(rf_pickle_object *)))
        return out_of_memory(m);
    dict->as.dict.capacity = (int)keys_capacity;
    dict->as.dict.keys[dict->as.dict.count] = key;
    dict->as.dict.values[dict->as.dict.count++] = value;
    return RF_OK;
}

rf_pickle_object *rf_pickle_dict_get(const rf_pickle_object *dict, const char *key) {
    if (!dict || dict->kind != RF_PICKLE_DICT) return NULL;
    for (int k = dict->as.dict.count - 1; k >= 0; k--) {
        const rf_pickle_object *candidate = dict->as.dict.keys[k];
        if (candidate->kind == RF_PICKLE_STR && strcmp(candidate->as.str.bytes, key) == 0 &&
            candidate->as.str.length == strlen(key))
            return dict->as.dict.values[k];
    }
    return NULL;
}

/* ---- torch's constructors ------------------------------------------------------------ */

static const struct {
    const char *name;
    rf_file_dtype dtype;
} storage_types[] = {
    {"FloatStorage", RF_FILE_F32},  {"HalfStorage", RF_FILE_F16},  {"BFloat16Storage", RF_FILE_BF16},
    {"DoubleStorage", RF_FILE_F64}, {"LongStorage", RF_FILE_I64},  {"IntStorage", RF_FILE_I32},
    {"ShortStorage", RF_FILE_I16},  {"CharStorage", RF_FILE_I8},   {"ByteStorage", RF_FILE_U8},
    {"BoolStorage", RF_FILE_BOOL},  {"UntypedStorage", RF_FILE_U8},
};

static const struct {
    const char *name;
    rf_file_dtype dtype;
} torch_dtypes[] = {
    {"float32", RF_FILE_F32}, {"float", RF_FILE_F32},  {"float16", RF_FILE_F16}, {"half", RF_FILE_F16},
    {"bfloat16", RF_FILE_BF16}, {"float64", RF_FILE_F64}, {"double", RF_FILE_F64}, {"int64", RF_FILE_I64},
    {"long", RF_FILE_I64},    {"int32", RF_FILE_I32},  {"int", RF_FILE_I32},     {"int16", RF_FILE_I16},
    {"short", RF_FILE_I16},   {"int8", RF_FILE_I8},    {"uint8", RF_FILE_U8},    {"bool", RF_FILE_BOOL},
};

/* BINPERSID: torch's id for a storage, ('storage', type, key, location,
 * numel). The type names the element type. */
static rf_status op_persistent_id(machine *m) {
    rf_pickle_object *pid = NULL;
    RF_TRY(pop(m, &pid));
    rf_pickle_object **f = pid->kind == RF_PICKLE_TUPLE ? pid->as.seq.items : NULL;
    if (!f || pid->as.seq.count != 5 || f[0]->kind != RF_PICKLE_STR || strcmp(f[0]->as.str.bytes, "storage") != 0 ||
        f[1]->kind != RF_PICKLE_GLOBAL || f[2]->kind != RF_PICKLE_STR || f[4]->kind != RF_PICKLE_INT || f[4]->as.integer < 0)
        return fail(m, RF_ERR_UNSUPPORTED, "persistent id is not torch's ('storage', type, key, location, numel)");
    rf_pickle_object *o = new_object(m, RF_PICKLE_STORAGE);
    if (!o) return out_of_memory(m);
    o->as.storage.storage_type = f[1]->as.global.name;
    for (size_t k = 0; k < sizeof storage_types / sizeof storage_types[0]; k++) {
        if (strcmp(f[1]->as.global.name, storage_types[k].name) == 0) {
            o->as.storage.dtype = storage_types[k].dtype;
            o->as.storage.dtype_known = true;
        }
    }
    o->as.storage.key = f[2]->as.str.bytes;
    o->as.storage.numel = f[4]->as.integer;
    return push(m, o);
}

static bool int_tuple(const rf_pickle_object *o, int max, int64_t *values, int *count) {
    if (o->kind != RF_PICKLE_TUPLE || o->as.seq.count > max) return false;
    for (int k = 0; k < o->as.seq.count; k++) {
        if (o->as.seq.items[k]->kind != RF_PICKLE_INT) return false;
        values[k] = o->as.seq.items[k]->as.integer;
    }
    *count = o->as.seq.count;
    return true;
}

/* _rebuild_tensor(storage, storage_offset, size, stride, ...): the
 * structure only; bounds are checked against the archive by the reader. */
static rf_status rebuild_tensor(machine *m, rf_pickle_object *const *args, int count, rf_pickle_object **out) {
    if (count < 4 || args[0]->kind != RF_PICKLE_STORAGE || args[1]->kind != RF_PICKLE_INT)
        return fail(m, RF_ERR_FORMAT, "torch._utils._rebuild_tensor* needs (storage, offset, size, stride, ...)");
    rf_pickle_object *t = new_object(m, RF_PICKLE_TENSOR);
    if (!t) return out_of_memory(m);
    int ndim = 0, nstride = 0;
    if (!int_tuple(args[2], RF_TENSOR_MAX_DIMS, t->as.tensor.shape, &ndim) ||
        !int_tuple(args[3], RF_TENSOR_MAX_DIMS, t->as.tensor.stride, &nstride) || ndim != nstride)
        return fail(m, RF_ERR_FORMAT, "tensor size and stride must be tuples of at most 8 integers of equal length");
    t->as.tensor.storage = args[0];
    t->as.tensor.offset = args[1]->as.integer;
    t->as.tensor.ndim = ndim;
    *out = t;
    return RF_OK;
}

/* What calling `callable(*args)` stands for. */
static rf_status apply(machine *m, rf_pickle_object *callable, rf_pickle_object *args, int nesting, rf_pickle_object **out) {
    if (args->kind != RF_PICKLE_TUPLE) return fail(m, RF_ERR_FORMAT, "arguments are not a tuple");
    rf_pickle_object *const *a = args->as.seq.items;
    int n = args->as.seq.count;
    if (is_global(callable, "torch._utils", "_rebuild_tensor_v2") || is_global(callable, "torch._utils", "_rebuild_tensor"))
        return rebuild_tensor(m, a, n, out);
    if (is_global(callable, "torch._utils", "_rebuild_tensor_v3")) {
        /* (storage, offset, size, stride, requires_grad, hooks, dtype, ...):
         * the dtype overrides an untyped storage's bytes. */
        if (n < 7 || a[6]->kind != RF_PICKLE_GLOBAL || strcmp(a[6]->as.global.module, "torch") != 0)
            return fail(m, RF_ERR_FORMAT, "torch._utils._rebuild_tensor_v3 needs a torch dtype as its 7th argument");
        for (size_t k = 0; k < sizeof torch_dtypes / sizeof torch_dtypes[0]; k++) {
            if (strcmp(a[6]->as.global.name, torch_dtypes[k].name) == 0) {
                RF_TRY(rebuild_tensor(m, a, n, out));
                /* Reinterpret the storage: a copy so a shared storage keeps
                 * its own type for other tensors. */
                rf_pickle_object *storage = new_object(m, RF_PICKLE_STORAGE);
                if (!storage) return out_of_memory(m);
                storage->as.storage = a[0]->as.storage;
                size_t old_size = a[0]->as.storage.dtype_known ? rf_file_dtype_size(a[0]->as.storage.dtype) : 1;
                size_t new_size = rf_file_dtype_size(torch_dtypes[k].dtype);
                storage->as.storage.dtype = torch_dtypes[k].dtype;
                storage->as.storage.dtype_known = a[0]->as.storage.dtype_known;
                storage->as.storage.numel = (int64_t)((uint64_t)a[0]->as.storage.numel * old_size / new_size);
                (*out)->as.tensor.storage = storage;
                return RF_OK;
            }
        }
        *out = new_object(m, RF_PICKLE_OPAQUE); /* a dtype we do not read */
        return *out ? RF_OK : out_of_memory(m);
    }
    if (is_global(callable, "torch._utils", "_rebuild_parameter") ||
        is_global(callable, "torch._utils", "_rebuild_parameter_with_state")) {
        if (n < 1) return fail(m, RF_ERR_FORMAT, "torch._utils._rebuild_parameter needs the tensor");
        *out = a[0];
        return RF_OK;
    }
    if (is_global(callable, "torch._tensor", "_rebuild_from_type_v2")) {
        /* (func, type, func_args, state): a tensor subclass around func(*func_args). */
        if (n < 3 || nesting > 4) return fail(m, RF_ERR_FORMAT, "torch._tensor._rebuild_from_type_v2 needs (func, type, args, state)");
        return apply(m, a[0], a[2], nesting + 1, out);
    }
    if (is_global(callable, "collections", "OrderedDict")) {
        rf_pickle_object *dict = new_object(m, RF_PICKLE_DICT);
        if (!dict) return out_of_memory(m);
        /* OrderedDict([(key, value), ...]) as older protocols write it. */
        if (n >= 1 && a[0]->kind == RF_PICKLE_LIST) {
            for (int k = 0; k < a[0]->as.seq.count; k++) {
                rf_pickle_object *pair = a[0]->as.seq.items[k];
                if ((pair->kind != RF_PICKLE_TUPLE && pair->kind != RF_PICKLE_LIST) || pair->as.seq.count != 2)
                    return fail(m, RF_ERR_FORMAT, "OrderedDict items must be pairs");
                RF_TRY(dict_set(m, dict, pair->as.seq.items[0], pair->as.seq.items[1]));
            }
        }
        *out = dict;
        return RF_OK;
    }
    rf_pickle_object *o = new_object(m, RF_PICKLE_OPAQUE);
    if (!o) return out_of_memory(m);
    o->as.opaque.type = callable;
    *out = o;
    return RF_OK;
}

static rf_status op_reduce(machine *m) {
    rf_pickle_object *args = NULL, *callable = NULL, *result = NULL;
    RF_TRY(pop(m, &args));
    RF_TRY(pop(m, &callable));
    RF_TRY(apply(m, callable, args, 0, &result));
    return push(m, result);
}

/* NEWOBJ / NEWOBJ_EX: cls.__new__(cls, *args): an OrderedDict or opaque. */
static rf_status op_newobj(machine *m, bool with_kwargs) {
    rf_pickle_object *cls = NULL, *args = NULL, *kwargs = NULL;
    if (with_kwargs) RF_TRY(pop(m, &kwargs));
    RF_TRY(pop(m, &args));
    RF_TRY(pop(m, &cls));
    rf_pickle_object *o = new_object(m, is_global(cls, "collections", "OrderedDict") ? RF_PICKLE_DICT : RF_PICKLE_OPAQUE);
    if (!o) return out_of_memory(m);
    if (o->kind == RF_PICKLE_OPAQUE) o->as.opaque.type = cls;
    return push(m, o);
}

/* ---- containers ------------------------------------------------------------------- */

static rf_status op_setitems(machine *m, bool many) {
    size_t start = m->depth - 2;
    if (many) {
        RF_TRY(pop_mark(m, &start));
        if ((m->depth - start) % 2) return fail(m, RF_ERR_FORMAT, "odd number of items for SETITEMS");
    } else if (m->depth < stack_floor(m) + 2) {
        return fail(m, RF_ERR_FORMAT, "stack underflow");
    }
    rf_pickle_object *target;
    if (start == 0 || start <= stack_floor(m)) return fail(m, RF_ERR_FORMAT, "stack underflow: no dict to set items in");
    target = m->stack[start - 1];
    if (target->kind == RF_PICKLE_DICT) {
        for (size_t k = start; k < m->depth; k += 2) RF_TRY(dict_set(m, target, m->stack[k], m->stack[k + 1]));
    } else if (target->kind != RF_PICKLE_OPAQUE) { /* an opaque object's items are dropped */
        return fail(m, RF_ERR_FORMAT, "setting items on an object that is not a dict");
    }
    m->depth = start;
    return RF_OK;
}

static rf_status op_appends(machine *m, bool many) {
    size_t start = m->depth - 1;
    if (many) {
        RF_TRY(pop_mark(m, &start));
    } else if (m->depth < stack_floor(m) + 1) {
        return fail(m, RF_ERR_FORMAT, "stack underflow");
    }
    if (start == 0 || start <= stack_floor(m)) return fail(m, RF_ERR_FORMAT, "stack underflow: no list to append to");
    rf_pickle_object *target = m->stack[start - 1];
    if (target->kind == RF_PICKLE_LIST) {
        for (size_t k = start; k < m->depth; k++) RF_TRY(append_item(m, target, m->stack[k]));
    } else if (target->kind != RF_PICKLE_OPAQUE) {
        return fail(m, RF_ERR_FORMAT, "appending to an object that is not a list");
    }
    m->depth = start;
    return RF_OK;
}

/* Collects stack[start..depth) into a new tuple or list. */
static rf_status collect(machine *m, rf_pickle_kind kind, size_t start) {
    rf_pickle_object *o = new_object(m, kind);
    if (!o) return out_of_memory(m);
    for (size_t k = start; k < m->depth; k++) RF_TRY(append_item(m, o, m->stack[k]));
    m->depth = start;
    return push(m, o);
}

static rf_status op_memo_put(machine *m, uint64_t index) {
    if (index > m->size + 1024) return fail(m, RF_ERR_FORMAT, "memo index out of range");
    rf_pickle_object *value = NULL;
    RF_TRY(top(m, &value));
    if (index >= m->memo_size) {
        size_t old = m->memo_size;
        if (!grow((void **)&m->memo, &m->memo_size, (size_t)index + 1, sizeof *m->memo)) return out_of_memory(m);
        memset(m->memo + old, 0, (m->memo_size - old) * sizeof *m->memo);
    }
    if (!m->memo[index]) m->memo_count++;
    m->memo[index] = value;
    return RF_OK;
}

static rf_status op_memo_get(machine *m, uint64_t index) {
    if (index >= m->memo_size || !m->memo[index]) return fail(m, RF_ERR_FORMAT, "memo index was never stored");
    return push(m, m->memo[index]);
}

static rf_status step(machine *m, bool *stop, rf_pickle_object **root) {
    uint64_t v = 0;
    const uint8_t *b = NULL;
    rf_pickle_object *o = NULL, *o2 = NULL;
    size_t start = 0;
    switch (m->op) {
    case 0x80: /* PROTO */
        RF_TRY(take(m, 1, &b));
        if (b[0] > 5) return fail(m, RF_ERR_UNSUPPORTED, "pickle protocol above 5");
        return RF_OK;
    case 0x95: return take_uint(m, 8, &v); /* FRAME: a hint for buffered readers */
    case '.':
        RF_TRY(pop(m, root));
        *stop = true;
        return RF_OK;
    case '}': return push(m, new_object(m, RF_PICKLE_DICT));
    case ']': return push(m, new_object(m, RF_PICKLE_LIST));
    case ')': return push(m, new_object(m, RF_PICKLE_TUPLE));
    case 0x8f: return push(m, new_object(m, RF_PICKLE_OPAQUE)); /* EMPTY_SET */
    case '(':
        if (!grow((void **)&m->marks, &m->mark_capacity, m->mark_count + 1, sizeof *m->marks)) return out_of_memory(m);
        m->marks[m->mark_count++] = m->depth;
        return RF_OK;
    case '0': /* POP: an item, or the mark when none is above it */
        if (m->mark_count && m->depth == stack_floor(m)) {
            m->mark_count--;
            return RF_OK;
        }
        return pop(m, &o);
    case '1':
        RF_TRY(pop_mark(m, &start));
        m->depth = start;
        return RF_OK;
    case '2':
        RF_TRY(top(m, &o));
        return push(m, o);
    case 'X': return push_string(m, RF_PICKLE_STR, 4);
    case 0x8c: return push_string(m, RF_PICKLE_STR, 1);
    case 0x8d: return push_string(m, RF_PICKLE_STR, 8);
    case 'T': return push_string(m, RF_PICKLE_BYTES, 4);
    case 'U': return push_string(m, RF_PICKLE_BYTES, 1);
    case 'B': return push_string(m, RF_PICKLE_BYTES, 4);
    case 'C': return push_string(m, RF_PICKLE_BYTES, 1);
    case 0x8e: return push_string(m, RF_PICKLE_BYTES, 8);
    case 0x96: return push_string(m, RF_PICKLE_BYTES, 8); /* BYTEARRAY8 */
    case 'q': RF_TRY(take_uint(m, 1, &v)); return op_memo_put(m, v);
    case 'r': RF_TRY(take_uint(m, 4, &v)); return op_memo_put(m, v);
    case 0x94: return op_memo_put(m, m->memo_count); /* MEMOIZE: at len(memo) */
    case 'h': RF_TRY(take_uint(m, 1, &v)); return op_memo_get(m, v);
    case 'j': RF_TRY(take_uint(m, 4, &v)); return op_memo_get(m, v);
    case 'J': RF_TRY(take_uint(m, 4, &v)); return push(m, new_int(m, (int32_t)(uint32_t)v));
    case 'K': RF_TRY(take_uint(m, 1, &v)); return push(m, new_int(m, (int64_t)v));
    case 'M': RF_TRY(take_uint(m, 2, &v)); return push(m, new_int(m, (int64_t)v));
    case 0x8a: return push_long(m, 1);
    case 0x8b: return push_long(m, 4);
    case 'G': { /* BINFLOAT: big-endian IEEE double */
        RF_TRY(take(m, 8, &b));
        uint64_t bits = 0;
        for (int k = 0; k < 8; k++) bits = bits << 8 | b[k];
        o = new_object(m, RF_PICKLE_FLOAT);
        if (o) memcpy(&o->as.number, &bits, sizeof bits);
        return push(m, o);
    }
    case 0x88:
    case 0x89:
        o = new_object(m, RF_PICKLE_BOOL);
        if (o) o->as.boolean = m->op == 0x88;
        return push(m, o);
    case 'N': return push(m, new_object(m, RF_PICKLE_NONE));
    case 't':
        RF_TRY(pop_mark(m, &start));
        return collect(m, RF_PICKLE_TUPLE, start);
    case 0x85:
    case 0x86:
    case 0x87: {
        size_t n = (size_t)(m->op - 0x84);
        if (m->depth < stack_floor(m) + n) return fail(m, RF_ERR_FORMAT, "stack underflow");
        return collect(m, RF_PICKLE_TUPLE, m->depth - n);
    }
    case 'l':
        RF_TRY(pop_mark(m, &start));
        return collect(m, RF_PICKLE_LIST, start);
    case 'd':
        RF_TRY(pop_mark(m, &start));
        if ((m->depth - start) % 2) return fail(m, RF_ERR_FORMAT, "odd number of items for DICT");
        o = new_object(m, RF_PICKLE_DICT);
        if (!o) return out_of_memory(m);
        for (size_t k = start; k < m->depth; k += 2) RF_TRY(dict_set(m, o, m->stack[k], m->stack[k + 1]));
        m->depth = start;
        return push(m, o);
    case 0x91: /* FROZENSET */
        RF_TRY(pop_mark(m, &start));
        m->depth = start;
        return push(m, new_object(m, RF_PICKLE_OPAQUE));
    case 0x90: /* ADDITEMS: into a set, which is opaque */
        RF_TRY(pop_mark(m, &start));
        if (start == 0 || start <= stack_floor(m)) return fail(m, RF_ERR_FORMAT, "stack underflow: no set to add to");
        if (m->stack[start - 1]->kind != RF_PICKLE_OPAQUE) return fail(m, RF_ERR_FORMAT, "adding items to a non-set");
        m->depth = start;
        return RF_OK;
    case 'a': return op_appends(m, false);
    case 'e': return op_appends(m, true);
    case 's': return op_setitems(m, false);
    case 'u': return op_setitems(m, true);
    case 'c': return op_global(m);
    case 0x93: return op_stack_global(m);
    case 'R': return op_reduce(m);
    case 0x81: return op_newobj(m, false);
    case 0x92: return op_newobj(m, true);
    case 'b': /* BUILD: state for __setstate__ or __dict__; an opaque object keeps a dict (a Namespace's fields) */
        RF_TRY(pop(m, &o));
        RF_TRY(top(m, &o2));
        if (o2->kind == RF_PICKLE_OPAQUE && o->kind == RF_PICKLE_DICT && !o2->as.opaque.state) o2->as.opaque.state = o;
        return RF_OK;
    case 'Q': return op_persistent_id(m);
    default: break;
    }
    if (opcode_name(m->op)) return fail(m, RF_ERR_UNSUPPORTED, "opcode not in the subset torch.save uses");
    return fail(m, RF_ERR_FORMAT, "not a pickle opcode");
}

rf_status rf_pickle_load(const uint8_t *data, size_t size, const char *label, rf_pickle **out, rf_pickle_object **root) {
    *out = NULL;
    *root = NULL;
    machine m = {.data = data, .size = size, .label = label};
    m.pickle = calloc(1, sizeof *m.pickle);
    if (!m.pickle) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory", label);
    rf_status s = RF_OK;
    bool stop = false;
    while (s == RF_OK && !stop) {
        if (m.pos >= m.size) {
            m.op_pos = m.pos;
            s = RF_ERROR(RF_ERR_FORMAT, "%s: pickle ends at byte %zu without STOP (truncated?)", label, m.pos);
            break;
        }
        m.op_pos = m.pos;
        m.op = m.data[m.pos++];
        s = step(&m, &stop, root);
    }
    free(m.stack);
    free(m.marks);
    free(m.memo);
    if (s != RF_OK) {
        rf_pickle_free(m.pickle);
        *root = NULL;
        return s;
    }
    *out = m.pickle;
    return RF_OK;
}

void rf_pickle_free(rf_pickle *pickle) {
    if (!pickle) return;
    for (size_t k = 0; k < pickle->count; k++) {
        rf_pickle_object *o = pickle->objects[k];
        switch (o->kind) {
        case RF_PICKLE_STR:
        case RF_PICKLE_BYTES: free(o->as.str.bytes); break;
        case RF_PICKLE_TUPLE:
        case RF_PICKLE_LIST: free(o->as.seq.items); break;
        case RF_PICKLE_DICT:
            free(o->as.dict.keys);
            free(o->as.dict.values);
            break;
        case RF_PICKLE_GLOBAL:
            free(o->as.global.module);
            free(o->as.global.name);
            break;
        default: break;
        }
        free(o);
    }
    free(pickle->objects);
    free(pickle);
}
