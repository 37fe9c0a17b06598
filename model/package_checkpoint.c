/* package_checkpoint.c — reading the rfdetr package's model_name,
 * model_config and args out of a PyTorch checkpoint's pickle. */
#include "model/package_checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/status.h"
#include "core/pickle.h"
#include "core/tensor_file.h"
#include "core/pth.h"
#include "core/zip.h"

/* The package's class names for the sizes we build (rfdetr/variants.py). */
static const struct {
    const char *model_name, *size;
} known_models[] = {
    {"RFDETRNano", "nano"}, {"RFDETRSmall", "small"}, {"RFDETRMedium", "medium"}, {"RFDETRBase", "base"},
};

/* A field of args or model_config: a dict's entry, or a Namespace's
 * attribute (kept by the pickle reader as the object's BUILD state). */
static const rf_pickle_object *field(const rf_pickle_object *holder, const char *name) {
    if (!holder) return NULL;
    if (holder->kind == RF_PICKLE_DICT) return rf_pickle_dict_get(holder, name);
    if (holder->kind == RF_PICKLE_OPAQUE) return rf_pickle_dict_get(holder->as.opaque.state, name);
    return NULL;
}

static int positive_int(const rf_pickle_object *o) {
    return o && o->kind == RF_PICKLE_INT && o->as.integer > 0 && o->as.integer < 1000000 ? (int)o->as.integer : 0;
}

static rf_status read_class_names(const rf_pickle_object *list, rfdetr_package_info *info) {
    if (!list || (list->kind != RF_PICKLE_LIST && list->kind != RF_PICKLE_TUPLE) || list->as.seq.count == 0) return RF_OK;
    int n = list->as.seq.count;
    info->class_names = calloc((size_t)n, sizeof *info->class_names);
    if (!info->class_names) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for class names");
    for (int i = 0; i < n; i++) {
        const rf_pickle_object *name = list->as.seq.items[i];
        /* A name that is not a string (None for an unused id) stays unnamed. */
        const char *text = name->kind == RF_PICKLE_STR ? name->as.str.bytes : "";
        if (!(info->class_names[i] = strdup(text))) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "out of host memory for class names");
        info->class_name_count = i + 1;
    }
    return RF_OK;
}

static rf_status describe(const rf_pickle_object *root, rfdetr_package_info *info) {
    const rf_pickle_object *name = rf_pickle_dict_get(root, "model_name");
    const rf_pickle_object *config = rf_pickle_dict_get(root, "model_config");
    const rf_pickle_object *args = rf_pickle_dict_get(root, "args");
    if (config && config->kind != RF_PICKLE_DICT) config = NULL;
    if (args && args->kind != RF_PICKLE_DICT && args->kind != RF_PICKLE_OPAQUE) args = NULL;
    info->present = (name && name->kind == RF_PICKLE_STR) || config || args;
    if (name && name->kind == RF_PICKLE_STR) {
        snprintf(info->model_name, sizeof info->model_name, "%s", name->as.str.bytes);
        for (size_t i = 0; i < sizeof known_models / sizeof known_models[0]; i++)
            if (strcmp(info->model_name, known_models[i].model_name) == 0)
                snprintf(info->size, sizeof info->size, "%s", known_models[i].size);
    }
    /* model_config describes the architecture the weights were saved with;
     * args can be stale (the package prefers model_config too). */
    if ((info->resolution = positive_int(field(config, "resolution"))))
        info->resolution_from = "model_config";
    else if ((info->resolution = positive_int(field(args, "resolution"))))
        info->resolution_from = "args";
    info->num_classes = positive_int(field(config, "num_classes"));
    if (!info->num_classes) info->num_classes = positive_int(field(args, "num_classes"));
    return read_class_names(field(args, "class_names"), info);
}

rf_status rfdetr_package_info_read(const char *path, rfdetr_package_info *out) {
    memset(out, 0, sizeof *out);
    rf_mapped_file map;
    RF_TRY(rf_map_file(path, &map));
    if (map.size < 4 || memcmp(map.data, "PK\3\4", 4) != 0) {
        rf_unmap_file(&map);
        return RF_OK;
    }
    rf_zip zip;
    rf_status s = rf_zip_open(&zip, map.data, map.size, path);
    if (s != RF_OK) {
        rf_unmap_file(&map);
        return s;
    }
    /* torch names every entry "<folder>/...": the pickle is "<folder>/data.pkl". */
    int entry = -1;
    for (int k = 0; k < zip.count && entry < 0; k++) {
        const char *slash = strchr(zip.entries[k].name, '/');
        if (slash && slash != zip.entries[k].name && strcmp(slash, "/data.pkl") == 0) entry = k;
    }
    const uint8_t *bytes = NULL;
    uint8_t *owned = NULL;
    rf_pickle *pickle = NULL;
    rf_pickle_object *root = NULL;
    if (entry >= 0) s = rf_zip_read(&zip, entry, RF_PTH_PICKLE_MAX_BYTES, &bytes, &owned);
    if (entry >= 0 && s == RF_OK) s = rf_pickle_load(bytes, (size_t)zip.entries[entry].size, path, &pickle, &root);
    if (s == RF_OK && root && root->kind == RF_PICKLE_DICT) s = describe(root, out);
    rf_pickle_free(pickle);
    free(owned);
    rf_zip_close(&zip);
    rf_unmap_file(&map);
    if (s != RF_OK) rfdetr_package_info_free(out);
    return s;
}

void rfdetr_package_info_free(rfdetr_package_info *info) {
    for (int i = 0; i < info->class_name_count; i++) free(info->class_names[i]);
    free(info->class_names);
    info->class_names = NULL;
    info->class_name_count = 0;
}
