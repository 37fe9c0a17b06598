/* json_rfdetr.c — the product path: rf_coco_load (yajl streaming, the file
 * fed in 1 MiB chunks) on the same file bench/json_parse.c reads, printed in
 * the same format. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "data/coco.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.json\n", argv[0]);
        return 2;
    }
    struct stat st;
    if (stat(argv[1], &st) != 0) {
        perror(argv[1]);
        return 1;
    }
    double t0 = now();
    rf_coco_dataset *ds = NULL;
    if (rf_coco_load(argv[1], &ds) != RF_OK) {
        fprintf(stderr, "%s\n", rf_last_error());
        return 1;
    }
    double t1 = now();
    double checksum = 0;
    for (size_t i = 0; i < ds->annotation_count; i++)
        checksum += ds->annotations[i].bbox[2] + (double)ds->annotations[i].image_id + ds->annotations[i].area;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double mb = st.st_size / 1e6;
    printf("%-12s %8.1f MB  read (streamed)  parse+extract %7.3f s  %8.1f MB/s  peak RSS %7.0f MB  "
           "images %zu annotations %zu categories %zu checksum %.6e\n",
           "rf_coco_load", mb, t1 - t0, mb / (t1 - t0), ru.ru_maxrss / 1024.0, ds->image_count,
           ds->annotation_count, ds->category_count, checksum);
    rf_coco_free(ds);
    return 0;
}
