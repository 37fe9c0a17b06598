/* onnx_writer.h — an ONNX graph built node by node and written as a
 * ModelProto, with a protobuf encoder of our own (no protobuf library).
 *
 * The field numbers are onnx.proto's (Debian's libonnx-dev ships it as
 * /usr/include/onnx/onnx.proto; proto2, so repeated scalars are written
 * unpacked, one tag each, as the reference implementation writes them).
 * Messages are encoded as they are added; the initializers (the weights)
 * are held once, as the bytes they will have in the file, and the file is
 * written in one pass with the graph's length computed from its pieces.
 *
 * Value names are owned by the graph: every function returns a name valid
 * until ox_graph_free. Errors are sticky: after an allocation failure every
 * call does nothing and returns "", and ox_graph_write reports it. */
#ifndef RFDETR_EXPORT_ONNX_WRITER_H
#define RFDETR_EXPORT_ONNX_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "rfdetr.h"

/* TensorProto.DataType */
enum { OX_FLOAT = 1, OX_INT64 = 7 };

/* One node attribute: exactly one of the value kinds is used. */
typedef enum ox_attr_kind { OX_ATTR_INT, OX_ATTR_FLOAT, OX_ATTR_STRING, OX_ATTR_INTS } ox_attr_kind;
typedef struct ox_attr {
    const char *name;
    ox_attr_kind kind;
    int64_t i;
    float f;
    const char *s;
    const int64_t *ints;
    int count;
} ox_attr;

#define OX_INT(n, v) ((ox_attr){.name = (n), .kind = OX_ATTR_INT, .i = (v)})
#define OX_FLT(n, v) ((ox_attr){.name = (n), .kind = OX_ATTR_FLOAT, .f = (v)})
#define OX_STR(n, v) ((ox_attr){.name = (n), .kind = OX_ATTR_STRING, .s = (v)})
#define OX_INTS(n, ...)                                                                                         \
    ((ox_attr){.name = (n), .kind = OX_ATTR_INTS, .ints = (const int64_t[]){__VA_ARGS__},                     \
               .count = (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))})

/* An attribute list and its length, for the n_attrs argument pair. */
#define OX_ATTRS(...) (const ox_attr[]){__VA_ARGS__}, (int)(sizeof((const ox_attr[]){__VA_ARGS__}) / sizeof(ox_attr))

typedef struct ox_graph ox_graph;

ox_graph *ox_graph_create(const char *name);
void ox_graph_free(ox_graph *g);
/* RF_OK, or RF_ERR_OUT_OF_MEMORY once anything failed. */
rf_status ox_graph_status(const ox_graph *g);

/* Node names and generated value names start with the scope
 * ("/backbone/layer.3/attn"), so a graph viewer shows the model's parts. */
void ox_graph_set_scope(ox_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A constant tensor under `name` (NULL: a generated name); the data is
 * copied. dims may be NULL when ndim is 0 (a scalar). */
const char *ox_initializer(ox_graph *g, const char *name, int elem_type, int ndim, const int64_t *dims,
                           const void *data);
/* 1-D int64 and f32 constants, and f32 scalars (generated names). */
const char *ox_const_ints(ox_graph *g, int count, const int64_t *values);
const char *ox_const_float(ox_graph *g, float value);
#define OX_I64S(g, ...)                                                                                           \
    ox_const_ints((g), (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__})

/* A node with n_in inputs ("" for an absent optional one) and n_out
 * generated outputs written to outs[]. */
void ox_node_multi(ox_graph *g, const char *op, const char *const *inputs, int n_in, const ox_attr *attrs, int n_attrs,
                   const char **outs, int n_out);
/* A node with one output; returns its name. */
const char *ox_node(ox_graph *g, const char *op, const char *const *inputs, int n_in, const ox_attr *attrs,
                    int n_attrs);
/* The next node's first output is called `name` instead of a generated
 * name (the graph's outputs: "dets", "labels"). */
void ox_name_next_output(ox_graph *g, const char *name);

/* A graph input or output of elem_type and dims; a dim < 0 is the
 * symbolic `dim_param` (e.g. "batch"). */
void ox_graph_input(ox_graph *g, const char *name, int elem_type, int ndim, const int64_t *dims, const char *dim_param);
void ox_graph_output(ox_graph *g, const char *name, int elem_type, int ndim, const int64_t *dims,
                     const char *dim_param);

/* Writes the ModelProto (IR version 8, the default ONNX domain at
 * `opset`) to path, atomically. */
rf_status ox_graph_write(ox_graph *g, const char *path, int opset, const char *producer, const char *producer_version);

/* Nodes added so far (for logs and tests). */
int ox_graph_node_count(const ox_graph *g);

#endif /* RFDETR_EXPORT_ONNX_WRITER_H */
