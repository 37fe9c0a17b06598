/* predict_inputs.c — see predict_inputs.h. */
#include "cli/predict_inputs.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/coco.h"
#include "data/paths.h"

/* The file name Roboflow gives a split's annotations. */
static const char roboflow_annotations[] = "_annotations.coco.json";

static int push(predict_inputs *in, const char *path) {
    if (in->count == in->capacity) {
        int cap = in->capacity ? in->capacity * 2 : 64;
        predict_input *grown = realloc(in->items, sizeof *grown * (size_t)cap);
        if (!grown) return 0;
        in->items = grown;
        in->capacity = cap;
    }
    char *copy = strdup(path);
    if (!copy) return 0;
    in->items[in->count] = (predict_input){copy, in->count};
    in->count++;
    return 1;
}

static int out_of_memory(void) {
    fprintf(stderr, "rfdetr predict: out of host memory listing the images\n");
    return CLI_EXIT_FAILURE;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int add_directory(predict_inputs *in, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "rfdetr predict: --image %s: cannot open the folder: %s\n", dir, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = CLI_EXIT_OK;
    struct dirent *e;
    while (rc == CLI_EXIT_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !rf_path_is_image(e->d_name)) continue;
        char *path = rf_path_join(dir, e->d_name);
        struct stat st;
        if (path && (stat(path, &st) != 0 || !S_ISREG(st.st_mode))) {
            free(path);
            continue;
        }
        if (path && n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, sizeof *grown * cap);
            if (grown) names = grown;
            else cap = n;
        }
        if (!path || n == cap) {
            free(path);
            rc = out_of_memory();
        } else {
            names[n++] = path;
        }
    }
    closedir(d);
    if (rc == CLI_EXIT_OK && n == 0) {
        fprintf(stderr, "rfdetr predict: --image %s: no images (.jpg .jpeg .png .bmp) in this folder\n", dir);
        rc = CLI_EXIT_USAGE;
    }
    if (n) qsort(names, n, sizeof *names, compare_names);
    for (size_t i = 0; i < n && rc == CLI_EXIT_OK; i++)
        if (!push(in, names[i])) rc = out_of_memory();
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static int add_glob(predict_inputs *in, const char *pattern) {
    glob_t g;
    int r = glob(pattern, 0, NULL, &g);
    if (r == GLOB_NOSPACE) {
        globfree(&g);
        return out_of_memory();
    }
    int rc = CLI_EXIT_OK, added = 0;
    for (size_t i = 0; r == 0 && i < g.gl_pathc && rc == CLI_EXIT_OK; i++) {
        if (is_dir(g.gl_pathv[i])) continue; /* a pattern names files; folders need their own --image */
        if (!push(in, g.gl_pathv[i])) rc = out_of_memory();
        added++;
    }
    globfree(&g);
    if (rc == CLI_EXIT_OK && added == 0) {
        fprintf(stderr, "rfdetr predict: --image '%s' matches no files\n", pattern);
        rc = CLI_EXIT_USAGE;
    }
    return rc;
}

/* ---- image ids from a COCO file ------------------------------------------------- */

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

typedef struct named_image {
    const char *base;
    size_t index; /* into the COCO file's images */
} named_image;

static int compare_named(const void *a, const void *b) {
    const named_image *x = a, *y = b;
    int c = strcmp(x->base, y->base);
    return c ? c : (x->index < y->index ? -1 : x->index > y->index);
}

/* Whether `tail` is all of `path` or follows a '/' at its end: "a/b/c.jpg"
 * ends with "b/c.jpg" but not with "/c.jpg" nor "b/c.jp". */
static int path_ends_with(const char *path, const char *tail) {
    size_t n = strlen(path), t = strlen(tail);
    return t <= n && strcmp(path + n - t, tail) == 0 && (t == n || path[n - t - 1] == '/');
}

/* Finds each input among the COCO file's images by file name (its folder
 * part only where two images share a name) and takes that image's id. */
static int assign_ids(predict_inputs *in, const rf_coco_dataset *coco) {
    named_image *byname = malloc(sizeof *byname * (coco->image_count + 1));
    if (!byname) return out_of_memory();
    for (size_t i = 0; i < coco->image_count; i++) byname[i] = (named_image){base_name(coco->images[i].file_name), i};
    if (coco->image_count) qsort(byname, coco->image_count, sizeof *byname, compare_named);
    int rc = CLI_EXIT_OK;
    for (int k = 0; k < in->count && rc == CLI_EXIT_OK; k++) {
        const char *path = in->items[k].path;
        named_image key = {base_name(path), 0};
        size_t lo = 0, hi = coco->image_count;
        while (lo < hi) { /* first entry with this base name */
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(byname[mid].base, key.base) < 0) lo = mid + 1;
            else hi = mid;
        }
        size_t end = lo;
        while (end < coco->image_count && strcmp(byname[end].base, key.base) == 0) end++;
        int64_t found = end - lo == 1 ? coco->images[byname[lo].index].id : -1;
        for (size_t i = lo; end - lo > 1 && i < end; i++) {
            const rf_coco_image *img = &coco->images[byname[i].index];
            if (!path_ends_with(path, img->file_name)) continue;
            if (found >= 0) {
                fprintf(stderr, "rfdetr predict: %s matches more than one image of %s\n", path, in->coco_path);
                rc = CLI_EXIT_USAGE;
                break;
            }
            found = img->id;
        }
        if (rc != CLI_EXIT_OK) break;
        if (found < 0) {
            fprintf(stderr,
                    "rfdetr predict: %s is not among the images of %s (its ids are what --json writes); give the "
                    "images as a pattern such as DIR/*.jpg to number them by position instead\n",
                    path, in->coco_path);
            rc = CLI_EXIT_USAGE;
        }
        in->items[k].image_id = found;
    }
    free(byname);
    return rc;
}

/* Every image the COCO file lists, found beside it. */
static int add_coco_images(predict_inputs *in, const rf_coco_dataset *coco) {
    char *dir = strdup(in->coco_path);
    if (!dir) return out_of_memory();
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else dir[0] = '\0';
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; i < coco->image_count && rc == CLI_EXIT_OK; i++) {
        if (!coco->images[i].file_name[0]) {
            fprintf(stderr, "rfdetr predict: --coco %s: images[%zu] has no file_name\n", in->coco_path, i);
            rc = CLI_EXIT_USAGE;
            break;
        }
        char *path = rf_path_join(dir, coco->images[i].file_name);
        if (!path || !push(in, path)) rc = out_of_memory();
        else in->items[in->count - 1].image_id = coco->images[i].id;
        free(path);
    }
    if (rc == CLI_EXIT_OK && in->count == 0) {
        fprintf(stderr, "rfdetr predict: --coco %s lists no images\n", in->coco_path);
        rc = CLI_EXIT_USAGE;
    }
    free(dir);
    return rc;
}

int predict_inputs_collect(const cli_strings *images, const char *coco, predict_inputs *out) {
    memset(out, 0, sizeof *out);
    int rc = CLI_EXIT_OK;
    const char *found_coco = NULL;
    char *found_coco_owned = NULL;
    for (int i = 0; i < images->count && rc == CLI_EXIT_OK; i++) {
        const char *arg = images->items[i];
        struct stat st;
        if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = add_directory(out, arg);
            char *ann = rf_path_join(arg, roboflow_annotations);
            if (!ann) rc = out_of_memory();
            if (rc == CLI_EXIT_OK && !coco && stat(ann, &st) == 0 && S_ISREG(st.st_mode)) {
                if (found_coco) {
                    fprintf(stderr,
                            "rfdetr predict: %s and %s both hold image ids; name the one --json uses with --coco\n",
                            found_coco, ann);
                    rc = CLI_EXIT_USAGE;
                } else {
                    found_coco = found_coco_owned = ann;
                    ann = NULL;
                }
            }
            free(ann);
        } else if (stat(arg, &st) != 0 && strpbrk(arg, "*?[")) {
            rc = add_glob(out, arg);
        } else if (!push(out, arg)) {
            rc = out_of_memory();
        }
    }
    if (rc == CLI_EXIT_OK && (coco || found_coco)) {
        out->coco_path = strdup(coco ? coco : found_coco);
        rf_coco_dataset *ds = NULL;
        if (!out->coco_path) {
            rc = out_of_memory();
        } else {
            rf_status s = rf_coco_load(out->coco_path, &ds);
            if (s != RF_OK) {
                fprintf(stderr, "rfdetr predict: --coco %s: %s\n", out->coco_path, rf_last_error());
                rc = CLI_EXIT_USAGE;
            }
        }
        if (rc == CLI_EXIT_OK) {
            if (!coco) fprintf(stderr, "rfdetr predict: image ids from %s\n", out->coco_path);
            rc = images->count ? assign_ids(out, ds) : add_coco_images(out, ds);
        }
        rf_coco_free(ds);
    }
    free(found_coco_owned);
    if (rc != CLI_EXIT_OK) predict_inputs_free(out);
    return rc;
}

void predict_inputs_free(predict_inputs *in) {
    for (int i = 0; i < in->count; i++) free(in->items[i].path);
    free(in->items);
    free(in->coco_path);
    memset(in, 0, sizeof *in);
}
