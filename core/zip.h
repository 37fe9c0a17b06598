/* zip.h — a read-only ZIP reader over bytes in memory, for the container
 * of PyTorch checkpoints (torch.save writes a ZIP whose entries are stored
 * uncompressed and 64-byte aligned, with ZIP64 records once the archive
 * passes 4 GiB or 65535 entries).
 *
 * Reads the central directory (ZIP64 included), checks every entry's local
 * header and bounds at open, and hands out an entry's bytes: stored entries
 * in place, deflated ones inflated with zlib; the CRC-32 is verified either
 * way. Encryption, multi-disk archives and other methods are refused. */
#ifndef RFDETR_ZIP_H
#define RFDETR_ZIP_H

#include <stdint.h>

#include "core/tensor_file.h"
#include "rfdetr.h"

typedef struct rf_zip_entry {
    char *name;
    uint64_t data_offset;      /* of the entry's (possibly compressed) bytes */
    uint64_t compressed_size;
    uint64_t size;
    uint32_t crc32;
    uint16_t method;           /* 0 stored, 8 deflate */
    bool crc_checked;          /* stored entries are checked once */
} rf_zip_entry;

typedef struct rf_zip {
    const char *label;         /* borrowed: names the archive in messages */
    const uint8_t *data;       /* borrowed: the whole archive */
    uint64_t size;
    int count;
    rf_zip_entry *entries;     /* central directory order */
    rf_name_index index;
} rf_zip;

rf_status rf_zip_open(rf_zip *zip, const uint8_t *data, uint64_t size, const char *label);
void rf_zip_close(rf_zip *zip);
/* Entry index by exact name, or -1. */
int rf_zip_find(const rf_zip *zip, const char *name);
/* The entry's bytes: for a stored entry *data points into the archive and
 * *owned is NULL; a deflated entry is inflated into *owned (free it), and
 * *data == *owned. A deflated entry whose declared size exceeds
 * `max_inflated` (what the caller can use of it) is refused before anything
 * is allocated; inflating never writes past the declared size. The CRC-32 is
 * checked (once per stored entry). */
rf_status rf_zip_read(rf_zip *zip, int i, uint64_t max_inflated, const uint8_t **data, uint8_t **owned);

#endif /* RFDETR_ZIP_H */
