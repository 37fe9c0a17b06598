/* onnx_writer.c — protobuf encoding of ONNX's ModelProto (onnx.proto,
 * proto2). Only what an inference graph needs: nodes with int, float,
 * string and ints attributes, tensors as raw little-endian data, typed
 * inputs and outputs with fixed or symbolic dims. */
#include "export/onnx_writer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "core/fileio.h"

/* ---- protobuf: wire types and a growable byte buffer ----------------------------------------------- */

enum { WIRE_VARINT = 0, WIRE_I32 = 5, WIRE_LEN = 2 };

/* onnx.proto field numbers. */
enum {
    MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3, MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8,
    OPSET_DOMAIN = 1, OPSET_VERSION = 2,
    GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12,
    NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5,
    ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_S = 4, ATTR_INTS = 8, ATTR_TYPE = 20,
    TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9,
    VALUE_INFO_NAME = 1, VALUE_INFO_TYPE = 2,
    TYPE_TENSOR_TYPE = 1, TYPE_TENSOR_ELEM_TYPE = 1, TYPE_TENSOR_SHAPE = 2,
    SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2,
};
/* AttributeProto.AttributeType */
enum { ATTR_TYPE_FLOAT = 1, ATTR_TYPE_INT = 2, ATTR_TYPE_STRING = 3, ATTR_TYPE_INTS = 7 };

typedef struct pb_buf {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} pb_buf;

static void pb_bytes(pb_buf *b, const void *p, size_t n) {
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

static size_t varint_encode(uint64_t v, uint8_t out[10]) {
    size_t n = 0;
    do {
        out[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) out[n] |= 0x80;
        n++;
    } while (v);
    return n;
}

static void pb_varint(pb_buf *b, uint64_t v) {
    uint8_t tmp[10];
    pb_bytes(b, tmp, varint_encode(v, tmp));
}

static void pb_tag(pb_buf *b, int field, int wire) { pb_varint(b, ((uint64_t)field << 3) | (uint64_t)wire); }

/* int64 fields are varints of the two's complement (negative: ten bytes). */
static void pb_int(pb_buf *b, int field, int64_t v) {
    pb_tag(b, field, WIRE_VARINT);
    pb_varint(b, (uint64_t)v);
}

static void pb_float(pb_buf *b, int field, float v) {
    pb_tag(b, field, WIRE_I32);
    uint8_t le[4];
    uint32_t u;
    memcpy(&u, &v, 4);
    for (int i = 0; i < 4; i++) le[i] = (uint8_t)(u >> (8 * i));
    pb_bytes(b, le, 4);
}

static void pb_len(pb_buf *b, int field, const void *p, size_t n) {
    pb_tag(b, field, WIRE_LEN);
    pb_varint(b, n);
    pb_bytes(b, p, n);
}

static void pb_string(pb_buf *b, int field, const char *s) { pb_len(b, field, s, strlen(s)); }

/* A nested message: `inner` encoded, then appended as a length-delimited field. */
static void pb_message(pb_buf *b, int field, pb_buf *inner) {
    if (inner->failed) b->failed = true;
    pb_len(b, field, inner->data, inner->len);
    free(inner->data);
    *inner = (pb_buf){0};
}

/* ---- the graph --------------------------------------------------------------------------------------- */

struct ox_graph {
    char *name;
    pb_buf nodes, initializers, io; /* GraphProto fields, already encoded */
    char **strings;                 /* every name handed out */
    size_t string_count, string_cap;
    char scope[256];
    char *next_output;              /* ox_name_next_output */
    int64_t counter;
    int node_count;
    bool failed;
};

static const char *keep(ox_graph *g, char *s) {
    if (!s) g->failed = true;
    if (g->failed) {
        free(s);
        return "";
    }
    if (g->string_count == g->string_cap) {
        size_t cap = g->string_cap ? 2 * g->string_cap : 1024;
        char **p = realloc(g->strings, sizeof *p * cap);
        if (!p) {
            free(s);
            g->failed = true;
            return "";
        }
        g->strings = p;
        g->string_cap = cap;
    }
    g->strings[g->string_count++] = s;
    return s;
}

static const char *fresh_name(ox_graph *g, const char *what) {
    char buf[384];
    snprintf(buf, sizeof buf, "%s/%s_%lld", g->scope, what, (long long)g->counter++);
    return keep(g, strdup(buf));
}

ox_graph *ox_graph_create(const char *name) {
    ox_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->name = strdup(name);
    if (!g->name) {
        free(g);
        return NULL;
    }
    return g;
}

void ox_graph_free(ox_graph *g) {
    if (!g) return;
    for (size_t i = 0; i < g->string_count; i++) free(g->strings[i]);
    free(g->strings);
    free(g->nodes.data);
    free(g->initializers.data);
    free(g->io.data);
    free(g->next_output);
    free(g->name);
    free(g);
}

static bool graph_failed(const ox_graph *g) {
    return g->failed || g->nodes.failed || g->initializers.failed || g->io.failed;
}

rf_status ox_graph_status(const ox_graph *g) { return graph_failed(g) ? RF_ERR_OUT_OF_MEMORY : RF_OK; }

int ox_graph_node_count(const ox_graph *g) { return g->node_count; }

void ox_graph_set_scope(ox_graph *g, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->scope, sizeof g->scope, fmt, ap);
    va_end(ap);
}

void ox_name_next_output(ox_graph *g, const char *name) {
    free(g->next_output);
    g->next_output = strdup(name);
    if (!g->next_output) g->failed = true;
}

static size_t elem_size(int elem_type) { return elem_type == OX_INT64 ? 8 : 4; }

const char *ox_initializer(ox_graph *g, const char *name, int elem_type, int ndim, const int64_t *dims,
                           const void *data) {
    const char *n = name ? keep(g, strdup(name)) : fresh_name(g, "const");
    if (graph_failed(g)) return "";
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= (size_t)dims[i];
    pb_buf t = {0};
    for (int i = 0; i < ndim; i++) pb_int(&t, TENSOR_DIMS, dims[i]);
    pb_int(&t, TENSOR_DATA_TYPE, elem_type);
    pb_string(&t, TENSOR_NAME, n);
    /* raw_data is little-endian; so is every machine this runs on (x86-64, arm64). */
    pb_len(&t, TENSOR_RAW_DATA, data, count * elem_size(elem_type));
    pb_message(&g->initializers, GRAPH_INITIALIZER, &t);
    return graph_failed(g) ? "" : n;
}

const char *ox_const_ints(ox_graph *g, int count, const int64_t *values) {
    return ox_initializer(g, NULL, OX_INT64, 1, (int64_t[]){count}, values);
}

const char *ox_const_float(ox_graph *g, float value) { return ox_initializer(g, NULL, OX_FLOAT, 0, NULL, &value); }

static void encode_attr(pb_buf *node, const ox_attr *a) {
    pb_buf m = {0};
    pb_string(&m, ATTR_NAME, a->name);
    switch (a->kind) {
    case OX_ATTR_INT:
        pb_int(&m, ATTR_I, a->i);
        pb_int(&m, ATTR_TYPE, ATTR_TYPE_INT);
        break;
    case OX_ATTR_FLOAT:
        pb_float(&m, ATTR_F, a->f);
        pb_int(&m, ATTR_TYPE, ATTR_TYPE_FLOAT);
        break;
    case OX_ATTR_STRING:
        pb_string(&m, ATTR_S, a->s);
        pb_int(&m, ATTR_TYPE, ATTR_TYPE_STRING);
        break;
    case OX_ATTR_INTS:
        for (int i = 0; i < a->count; i++) pb_int(&m, ATTR_INTS, a->ints[i]);
        pb_int(&m, ATTR_TYPE, ATTR_TYPE_INTS);
        break;
    }
    pb_message(node, NODE_ATTRIBUTE, &m);
}

void ox_node_multi(ox_graph *g, const char *op, const char *const *inputs, int n_in, const ox_attr *attrs, int n_attrs,
                   const char **outs, int n_out) {
    for (int i = 0; i < n_out; i++) {
        if (i == 0 && g->next_output) {
            outs[i] = keep(g, g->next_output);
            g->next_output = NULL;
        } else {
            outs[i] = fresh_name(g, op);
        }
    }
    if (graph_failed(g)) {
        for (int i = 0; i < n_out; i++) outs[i] = "";
        return;
    }
    pb_buf n = {0};
    for (int i = 0; i < n_in; i++) pb_string(&n, NODE_INPUT, inputs[i]);
    for (int i = 0; i < n_out; i++) pb_string(&n, NODE_OUTPUT, outs[i]);
    char name[384];
    snprintf(name, sizeof name, "%s/%s_node_%d", g->scope, op, g->node_count);
    pb_string(&n, NODE_NAME, name);
    pb_string(&n, NODE_OP_TYPE, op);
    for (int i = 0; i < n_attrs; i++) encode_attr(&n, &attrs[i]);
    pb_message(&g->nodes, GRAPH_NODE, &n);
    g->node_count++;
}

const char *ox_node(ox_graph *g, const char *op, const char *const *inputs, int n_in, const ox_attr *attrs,
                    int n_attrs) {
    const char *out = "";
    ox_node_multi(g, op, inputs, n_in, attrs, n_attrs, &out, 1);
    return out;
}

static void value_info(ox_graph *g, int field, const char *name, int elem_type, int ndim, const int64_t *dims,
                       const char *dim_param) {
    pb_buf shape = {0}, tensor = {0}, type = {0}, info = {0};
    for (int i = 0; i < ndim; i++) {
        pb_buf dim = {0};
        if (dims[i] < 0)
            pb_string(&dim, DIM_PARAM, dim_param);
        else
            pb_int(&dim, DIM_VALUE, dims[i]);
        pb_message(&shape, SHAPE_DIM, &dim);
    }
    pb_int(&tensor, TYPE_TENSOR_ELEM_TYPE, elem_type);
    pb_message(&tensor, TYPE_TENSOR_SHAPE, &shape);
    pb_message(&type, TYPE_TENSOR_TYPE, &tensor);
    pb_string(&info, VALUE_INFO_NAME, name);
    pb_message(&info, VALUE_INFO_TYPE, &type);
    pb_message(&g->io, field, &info);
}

void ox_graph_input(ox_graph *g, const char *name, int elem_type, int ndim, const int64_t *dims, const char *dim_param) {
    value_info(g, GRAPH_INPUT, name, elem_type, ndim, dims, dim_param);
}

void ox_graph_output(ox_graph *g, const char *name, int elem_type, int ndim, const int64_t *dims,
                     const char *dim_param) {
    value_info(g, GRAPH_OUTPUT, name, elem_type, ndim, dims, dim_param);
}

rf_status ox_graph_write(ox_graph *g, const char *path, int opset, const char *producer, const char *producer_version) {
    if (graph_failed(g)) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "ONNX export: out of memory while building the graph");
    /* Everything but the graph is small: encode it whole. The graph's
     * pieces are written one after the other behind its computed length,
     * so the weights are never copied a second time. */
    pb_buf head = {0}, opset_id = {0}, graph_name = {0};
    pb_int(&head, MODEL_IR_VERSION, 8);
    pb_string(&head, MODEL_PRODUCER_NAME, producer);
    pb_string(&head, MODEL_PRODUCER_VERSION, producer_version);
    pb_string(&opset_id, OPSET_DOMAIN, "");
    pb_int(&opset_id, OPSET_VERSION, opset);
    pb_message(&head, MODEL_OPSET_IMPORT, &opset_id);
    pb_string(&graph_name, GRAPH_NAME, g->name);
    size_t graph_len = graph_name.len + g->nodes.len + g->initializers.len + g->io.len;
    if (graph_len > INT32_MAX) { /* protobuf readers refuse messages of 2 GB and more */
        free(head.data);
        free(opset_id.data);
        free(graph_name.data);
        return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "ONNX export: the graph is %zu bytes, over protobuf's 2 GB limit",
                        graph_len);
    }
    pb_tag(&head, MODEL_GRAPH, WIRE_LEN);
    pb_varint(&head, graph_len);
    rf_status s = RF_OK;
    if (head.failed || graph_name.failed) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "ONNX export: out of memory");
    rf_atomic_file af = {0};
    if (s == RF_OK) s = rf_atomic_file_open(&af, path);
    if (s == RF_OK) {
        const pb_buf *parts[] = {&head, &graph_name, &g->nodes, &g->initializers, &g->io};
        for (size_t i = 0; i < sizeof parts / sizeof parts[0] && s == RF_OK; i++)
            if (parts[i]->len && fwrite(parts[i]->data, 1, parts[i]->len, af.f) != parts[i]->len)
                s = RF_ERROR(RF_ERR_IO, "writing %s: short write (disk full?)", path);
        if (s == RF_OK)
            s = rf_atomic_file_commit(&af);
        else
            rf_atomic_file_abort(&af);
    }
    free(head.data);
    free(graph_name.data);
    return s;
}
