/* rfdetr.h — the public C API of rfdetr.c.
 *
 * Conventions: every function returns an rf_status (RF_OK == 0); outputs go
 * through pointer arguments; every object a call creates is released by its
 * own *_free / *_close. The detail of the most recent failure on the calling
 * thread is available from rf_last_error(). The library never exits or
 * aborts, never reads an environment variable to pick a device and has no
 * "current device": every call that touches memory names its device.
 */
#ifndef RFDETR_H
#define RFDETR_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes ---------------------------------------------------------
 * Numbered and stable: scripts may rely on the numbers. */
typedef enum rf_status {
    RF_OK = 0,
    RF_ERR_INVALID_ARGUMENT = 1, /* a caller passed something the API rejects */
    RF_ERR_NO_DEVICE = 2,        /* unknown device name, index out of range, no driver */
    RF_ERR_OUT_OF_MEMORY = 3,    /* host or device allocation failed */
    RF_ERR_DEVICE_MISMATCH = 4,  /* operands live on different devices */
    RF_ERR_KERNEL_BUILD = 5,     /* a device kernel failed to compile (see build log) */
    RF_ERR_BACKEND = 6,          /* a driver / vendor library call failed */
    RF_ERR_IO = 7,               /* reading or writing a file failed */
    RF_ERR_FORMAT = 8,           /* a file's contents are malformed */
    RF_ERR_UNSUPPORTED = 9,      /* valid request this build or device cannot do */
    RF_ERR_NUMERIC = 10,         /* NaN / Inf where a finite value is required */
    RF_ERR_INTERRUPTED = 11,     /* stopped by a signal (Ctrl-C) at a safe point */
    RF_ERR_INTERNAL = 12,        /* a broken invariant: a bug in rfdetr.c */
    RF_STATUS_COUNT
} rf_status;

/* "RF_ERR_NO_DEVICE" etc. Never NULL. */
const char *rf_status_name(rf_status status);

/* Human-readable detail of the last failure on this thread ("" when none).
 * Valid until the next failing call on the same thread. */
const char *rf_last_error(void);

/* Source location (file:line inside rfdetr.c) where the last failure on this
 * thread was raised; useful in bug reports. */
const char *rf_last_error_location(void);

/* ---- devices --------------------------------------------------------------
 * A device is named canonically: "cpu" (== "cpu:0"), "opencl:N", "cuda:N",
 * N 0-based per backend in driver order. */
typedef struct rf_device rf_device;

typedef enum rf_device_type {
    RF_DEVICE_CPU = 0,
    RF_DEVICE_GPU = 1,
    RF_DEVICE_ACCELERATOR = 2,
    RF_DEVICE_OTHER = 3
} rf_device_type;

typedef struct rf_device_info {
    char name[32];            /* canonical: "opencl:1" */
    char backend[16];         /* "cpu", "opencl", "cuda" */
    int index;                /* N in backend:N */
    rf_device_type type;
    char description[256];    /* the driver's device name */
    char vendor[128];
    char driver_version[128];
    char platform[128];       /* OpenCL platform name; runtime version for CUDA */
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
    int compute_units;
    char pci_bus_id[32];      /* "0000:65:00.0" when the driver tells, else "" */
} rf_device_info;

/* Number of devices every compiled-in backend reports, in listing order
 * (cpu first, then opencl:0.., then cuda:0..). Probing never fails: a backend
 * without a driver contributes 0 devices (see rf_backend_unavailable_reason). */
int rf_device_count(void);
/* Info of the i-th device in listing order. */
rf_status rf_device_info_at(int i, rf_device_info *out);

/* Checks a name strictly: RF_OK when it names an existing device. Junk,
 * unknown backends and out-of-range indices are RF_ERR_NO_DEVICE with a
 * message listing the available devices. Never clamps to 0. */
rf_status rf_device_check_name(const char *name, rf_device_info *info_out);

/* Opens a device by canonical name. Each open creates its own context and
 * queue/stream; close with rf_device_close. */
rf_status rf_device_open(const char *name, rf_device **out);

typedef enum rf_opencl_gemm_choice {
    RF_OPENCL_GEMM_AUTO = 0, /* CLBlast on GPUs and accelerators, the own kernel on CPU devices */
    RF_OPENCL_GEMM_CLBLAST,
    RF_OPENCL_GEMM_OWN /* backend/kernels/gemm.h, written for CPU-backed OpenCL */
} rf_opencl_gemm_choice;

typedef struct rf_device_options {
    /* OpenCL: keep CLBlast's stock GEMM parameters instead of the tuned ones
     * rfdetr.c ships for devices CLBlast has no tuning for (PoCL on x86).
     * CLBlast keeps parameters per driver device for the whole process. */
    int opencl_stock_gemm;
    /* OpenCL: which GEMM (rf_opencl_gemm_choice). By default GPUs use CLBlast and
     * CPU devices rfdetr.c's own kernel, since CLBlast's GPU-shaped kernels
     * are several times slower there. */
    int opencl_gemm;
    /* OpenCL: reduce each row on one work item with the kernels written
     * for CPU-backed OpenCL, as PoCL devices always do (a test option: the
     * simulator run checks those kernels on a device that is not PoCL). */
    int opencl_row_items;
    /* Refuse allocations that would bring this handle's live device memory
     * above this many bytes (0: only the device's own limits). Lets a user
     * share a GPU, and lets tests provoke out-of-memory deterministically. */
    uint64_t memory_limit_bytes;
    /* cpu: threads the device's kernels use, the calling thread included
     * (0: one per online core). Results do not depend on it. */
    int cpu_threads;
    /* cpu: run the reference kernels (double accumulation, one thread) that
     * tests use as the oracle, instead of the fast float kernels. */
    int cpu_reference;
} rf_device_options;
/* The precision of matrix products (linear layers, convolutions, the
 * products of attention where a device composes it from GEMMs): f32, or
 * the operands rounded to bf16 / fp16 (nearest, ties to even) and
 * multiplied with f32 accumulation, as PyTorch's autocast does. Weights,
 * optimizer state, EMA, losses, normalisation and softmax stay f32. */
typedef enum rf_precision { RF_PRECISION_F32 = 0, RF_PRECISION_BF16, RF_PRECISION_F16, RF_PRECISION_COUNT } rf_precision;
/* "f32", "bf16", "fp16"; parse takes those (and "f16", "float32", "bfloat16",
 * "float16"), else RF_ERR_INVALID_ARGUMENT naming the choices. */
const char *rf_precision_name(rf_precision precision);
rf_status rf_precision_parse(const char *text, rf_precision *out);

/* rf_device_open with options; NULL options == rf_device_open. */
rf_status rf_device_open_with(const char *name, const rf_device_options *options, rf_device **out);
void rf_device_close(rf_device *device);
const rf_device_info *rf_device_get_info(const rf_device *device);

/* Names of compiled-in backends, and why a backend has no devices ("" when it
 * has some, or has not been probed yet). */
int rf_backend_compiled_count(void);
const char *rf_backend_compiled_name(int i);
const char *rf_backend_unavailable_reason(const char *backend_name);

/* Counters a device keeps about itself: lets a caller prove that work on one
 * device never touched another. */
typedef struct rf_device_counters {
    uint64_t allocations;      /* successful buffer allocations */
    uint64_t frees;
    uint64_t bytes_allocated;  /* sum of all allocation sizes */
    uint64_t bytes_live;       /* currently allocated */
    uint64_t bytes_peak;       /* high-water mark of bytes_live */
    uint64_t uploads, downloads, copies, fills;
    uint64_t bytes_uploaded, bytes_downloaded;
    uint64_t kernel_launches;  /* compute kernels and GEMMs enqueued */
    uint64_t gemm_calls;
    uint64_t synchronizations;
    uint64_t host_fallbacks;   /* kernel calls run on the host: the device lacks that kernel */
} rf_device_counters;

void rf_device_get_counters(const rf_device *device, rf_device_counters *out);

/* How many times this process has opened the named device (a diagnostic,
 * process-wide, read-only for callers): a test can prove that a run on
 * opencl:1 never opened opencl:0 at all, not only that one handle stayed
 * idle. Unknown names count 0. */
uint64_t rf_device_open_count(const char *name);
/* The sum of every counter; 0 proves the device was never used. */
uint64_t rf_device_counters_total(const rf_device_counters *c);


/* ---- models ------------------------------------------------------------------------
 * An RF-DETR model on one device: created at a size, or opened from weights
 * (our .safetensors, which carry the configuration and class names, or an
 * official PyTorch .pth checkpoint). Everything it holds lives on the device
 * it was given. */
typedef struct rf_model rf_model;

rf_status rf_model_open(rf_device *device, const char *weights_path, rf_model **out);
/* With a size for official checkpoints whose size cannot be recognised
 * (NULL: recognise it) and an input resolution override (0: the file's). */
rf_status rf_model_open_with(rf_device *device, const char *weights_path, const char *size_hint, int resolution,
                             rf_model **out);
/* "tiny: 192 px, ViT 128x4, ... 3 classes": what the model is, for logs. */
const char *rf_model_describe(const rf_model *model, char *buf, size_t size);
/* The widest class head built (class ids 0..RF_MAX_CLASSES-1): LVIS's 1203
 * categories fit; a dataset whose ids run higher must renumber them, since
 * the head and its training activations grow with the largest id. */
#define RF_MAX_CLASSES 4096
/* size: tiny, nano, small, medium, base; resolution 0: the size's own. */
rf_status rf_model_new(rf_device *device, const char *size, int num_classes, int resolution, uint64_t seed,
                       rf_model **out);
/* Writes the weights with the configuration, atomically, as .safetensors. */
rf_status rf_model_save(const rf_model *model, const char *path);
void rf_model_free(rf_model *model);
const char *rf_model_size(const rf_model *model);
int rf_model_num_classes(const rf_model *model);   /* width of the class head: ids 0..n-1 */
int rf_model_resolution(const rf_model *model);
const char *rf_model_class_name(const rf_model *model, int class_id); /* NULL when unknown */
/* The precision of the model's matrix products in rf_model_predict and
 * rf_model_evaluate (rf_precision; f32 until set). The weights stay f32. */
rf_status rf_model_set_precision(rf_model *model, rf_precision precision);

/* An image as interleaved 8-bit RGB, rows top to bottom, no padding. */
typedef struct rf_image_rgb8 {
    const uint8_t *rgb;
    int width, height;
} rf_image_rgb8;

/* Decodes an image file (JPEG, PNG, BMP) into *out, as training and `rfdetr
 * predict` read images; release the pixels with rf_image_rgb8_free. */
rf_status rf_image_read(const char *path, rf_image_rgb8 *out);
void rf_image_rgb8_free(rf_image_rgb8 *image);

typedef struct rf_detection {
    int image;      /* index into the images given */
    int class_id;   /* category id */
    float score;    /* sigmoid probability */
    float box[4];   /* x0, y0, x1, y1 in the image's own pixels */
} rf_detection;

/* Detects objects in `count` images (one batch on the model's device): the
 * images are resized to the model's square input and normalized as in
 * training, and RF-DETR's post-processing keeps the best num_select
 * (query, class) pairs per image; detections scoring above `threshold`
 * (0 keeps them all) come back best first per image in *out (free with
 * rf_detections_free). */
rf_status rf_model_predict(rf_model *model, const rf_image_rgb8 *images, int count, float threshold,
                           rf_detection **out, size_t *n_out);
void rf_detections_free(rf_detection *detections);

/* ---- evaluation ---------------------------------------------------------------------- */
/* COCO bbox evaluation with pycocotools' numbers (the 12 stats in its
 * order: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl).
 * max_dets NULL: 1, 10, 100. */
rf_status rf_evaluate_files(const char *gt_json, const char *detections_json, const int max_dets[3], double stats[12]);
/* The model's detections on a dataset split ("valid", "test", "train") of a
 * dataset folder (or "shapes"), evaluated on the model's device. */
rf_status rf_model_evaluate(rf_model *model, const char *data, const char *split, const int max_dets[3],
                            double stats[12]);

/* The whole result of an evaluation: what `rfdetr eval` prints and writes. */
typedef struct rf_eval_class {
    int64_t category_id;
    const char *name;
    size_t gt_boxes;   /* GT boxes that are not crowd regions */
    size_t detections; /* kept after max_dets[2] per image */
    /* AP@[.50:.95] and AP50 at area all, max_dets[2]; precision, recall and
     * F1 at IoU .50 and the result's f1_threshold. -1 without GT boxes. */
    double ap, ap50, precision, recall, f1;
} rf_eval_class;

typedef struct rf_eval_result {
    double stats[12];        /* as rf_evaluate_files' */
    int max_dets[3];
    const char *annotations; /* the ground-truth file evaluated against */
    size_t images, categories, gt_boxes, detections;
    /* Macro precision, recall and F1 (over the classes with GT) at IoU .50
     * and the confidence f1_threshold that maximizes macro F1: the numbers
     * RF-DETR's results.json reports. */
    double f1_threshold, precision, recall, f1;
    size_t class_count;
    const rf_eval_class *classes; /* one per GT category, by ascending id */
} rf_eval_result;

typedef struct rf_eval_options {
    int max_dets[3]; /* detections per image for the AR columns; all 0: 1, 10, 100 */
    int batch;       /* model evaluation: images per forward pass (0: 8) */
    int threads;     /* image decoding (model) or matching (files) threads; 0: the default. Results do not depend on it */
    /* model evaluation: called after each batch with the images done and the total (NULL: none) */
    void (*progress)(void *user, int64_t done, int64_t total);
    void *progress_user;
} rf_eval_options;

/* rf_model_evaluate / rf_evaluate_files with options (NULL: the defaults)
 * and the per-class table; free *out with rf_eval_result_free. */
rf_status rf_model_evaluate_with(rf_model *model, const char *data, const char *split, const rf_eval_options *options,
                                 rf_eval_result **out);
rf_status rf_evaluate_files_with(const char *gt_json, const char *detections_json, const rf_eval_options *options,
                                 rf_eval_result **out);
void rf_eval_result_free(rf_eval_result *result);

/* ---- training ---------------------------------------------------------------------------
 * RF-DETR's recipe on the device, or the devices, named in the config (see
 * docs/train.md). Several devices train data-parallel, one replica and one
 * host thread per device: bit for bit the run on the first device alone with
 * grad_accum x devices micro-batches per step. */
#define RF_TRAIN_STATS 12

typedef enum rf_train_event {
    RF_TRAIN_STARTED = 0, /* message: what is being trained where */
    RF_TRAIN_STEP,        /* after each optimizer step */
    RF_TRAIN_EVALUATING,  /* before an evaluation pass (message names it) */
    RF_TRAIN_EPOCH_DONE,  /* stats / ema_stats filled */
    RF_TRAIN_MESSAGE,     /* a notice (message), e.g. a checkpoint written */
    RF_TRAIN_EVAL_PROGRESS, /* after each evaluation batch: eval_images_done of eval_images_total; message
                               names the pass */
} rf_train_event;

typedef struct rf_train_progress {
    rf_train_event event;
    int64_t epoch, epochs;          /* 0-based epoch, total epochs */
    int64_t step_in_epoch, steps_per_epoch;
    int64_t global_step, total_steps;
    double loss, lr, grad_norm;
    double images_per_second;
    double eta_seconds;             /* the rest of training, evaluations included */
    const double *stats, *ema_stats; /* 12 COCO stats each (EPOCH_DONE) */
    const char *message;
    int64_t eval_images_done, eval_images_total; /* EVAL_PROGRESS */
    double loss_scale;              /* STEP: the step's loss scale (fp16; 1 otherwise) */
    bool step_skipped;              /* STEP: fp16 gradients overflowed; no update, the scale was halved */
} rf_train_progress;

typedef void (*rf_train_progress_fn)(void *user, const rf_train_progress *p);

typedef struct rf_train_config {
    const char *data;          /* "shapes" (built-in, generated on first use) or a dataset directory */
    const char *size;          /* tiny, nano, small, medium, base */
    const char *device;        /* canonical device name (cpu, opencl:N, cuda:N) or a list of distinct ones:
                                * "opencl:0,opencl:1". With mpi: this rank's list, or one list
                                * per rank of a machine separated by '/' ("cuda:0/cuda:1") */
    const char *device_request; /* the device as the user gave it ("auto"), saved with the run; NULL: device */
    const char *out_dir;       /* run directory; NULL: the next free runs/train, runs/train2, ... A directory
                                  that holds a run is refused unless resume or overwrite. Created only
                                  once the data, device and model are ready; a failure before the first
                                  training state is written removes what this call created. With mpi,
                                  only rank 0 checks, creates and writes it. */
    const char *weights;       /* optional: start from these weights (.pth / .safetensors) */
    bool resume;               /* continue the run in out_dir: every field that changes the result must
                                  equal the one saved in out_dir/run.json (rf_train_run_load fills them);
                                  only device, epochs, max_steps and threads may differ (logged) */
    bool overwrite;            /* replace the run out_dir holds (its files are removed first; logged) */
    int epochs, batch, grad_accum; /* batch: images per micro-batch on each device */
    int resolution;            /* 0: the size's own */
    bool multi_scale;          /* RF-DETR's square multi-scale sizes per batch */
    double lr, lr_encoder, lr_vit_layer_decay, lr_component_decay, weight_decay;
    int64_t warmup_steps;      /* linear warm-up in optimizer steps */
    bool cosine;               /* cosine to min_factor (else RF-DETR's step: x0.1 after lr_drop epochs) */
    int lr_drop;
    double min_factor;
    double clip_max_norm;      /* global L2 norm; 0 disables */
    bool ema;
    double ema_decay, ema_tau;
    uint64_t seed;
    int patience;              /* early stopping epochs without improvement; 0 disables */
    double min_delta;
    int64_t max_steps;         /* stop after this many optimizer steps (0: no cap) */
    int threads;               /* loader threads */
    int eval_batch;
    uint64_t device_memory_limit; /* bytes of device memory the run may hold; 0: the device's own limits */
    bool profile;              /* print a per-kernel profile and each step's device traffic to stderr at the end */
    bool mpi;                  /* train with every rank of MPI_COMM_WORLD (the caller ran rf_mpi_init);
                                * rank 0 writes the run directory */
    double comm_timeout;       /* seconds a device or rank may keep the others waiting before the run
                                * stops naming it (default 60; at least 900 until the first epoch is
                                * done, while drivers compile their kernels) */
    int cpu_threads;           /* threads of a cpu device (rf_device_options.cpu_threads; 0: every core) */
    rf_precision precision;    /* of the matrix products, forward and backward; weights, AdamW, EMA
                                * and losses stay f32. fp16 scales the loss dynamically (a step whose
                                * gradients overflow is skipped and halves the scale) */
    const volatile sig_atomic_t *stop; /* set by a SIGINT handler: stop at a safe point */
    rf_train_progress_fn progress;
    void *progress_user;
} rf_train_config;

/* RF-DETR's defaults (lr 1e-4, encoder 1.5e-4, layer decay 0.8, component
 * decay 0.7, weight decay 1e-4, clip 0.1, EMA 0.993 / tau 100, step schedule
 * dropping at epoch 100) for the tiny model on the built-in shapes dataset:
 * the recipe issue 7 states (batch 8, lr 4e-4, 100 warm-up steps). */
void rf_train_config_defaults(rf_train_config *cfg);

typedef struct rf_train_summary {
    int64_t epochs_run, steps;
    double best_regular_map, best_ema_map;   /* AP@[.50:.95] of the bests */
    double best_regular_map50, best_ema_map50;
    double best_total_stats[RF_TRAIN_STATS]; /* of the best total model on valid */
    bool best_total_is_ema;
    bool has_test;
    double test_stats[RF_TRAIN_STATS];       /* best total on the test split */
    bool stopped_early, interrupted;
    double seconds;
    char out_dir[4096];                      /* the run directory used */
    int64_t skipped_steps;                   /* fp16: steps the loss scaler skipped, over the whole run */
    double loss_scale;                       /* fp16: the scale at the end (1 otherwise) */
} rf_train_summary;

rf_status rf_train(const rf_train_config *cfg, rf_train_summary *summary);

/* A run's saved configuration (DIR/run.json, written when the run starts):
 * what resuming DIR continues with. cfg's strings point into this struct;
 * its callbacks and stop flag are unset, its device is the one the user
 * gave (resolve "auto" before rf_train). RF_ERR_INVALID_ARGUMENT when DIR
 * does not exist or holds no run.json; RF_ERR_FORMAT for a broken one. */
typedef struct rf_train_run {
    rf_train_config cfg;
    char data[4096], size[64], device[1024], weights[4096], out_dir[4096];
} rf_train_run;

rf_status rf_train_run_load(const char *dir, rf_train_run *run);

/* ---- several processes (MPI) ----------------------------------------------------------
 * For a program started by mpirun: initialise MPI once from main before
 * training with cfg.mpi, finalise at the end (rank / size may be NULL).
 * RF_ERR_UNSUPPORTED when the library was built without MPI. After a
 * failure on one rank, rf_mpi_abort ends every rank at once. */
bool rf_mpi_built(void);
rf_status rf_mpi_init(int *argc, char ***argv, int *rank, int *size);
void rf_mpi_finalize(void);
void rf_mpi_abort(int exit_code);


#ifdef __cplusplus
}
#endif
#endif /* RFDETR_H */
