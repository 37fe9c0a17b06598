#include "core/zip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "backend/status.h"

enum {
    LOCAL_HEADER_SIGNATURE = 0x04034b50,
    CENTRAL_HEADER_SIGNATURE = 0x02014b50,
    END_SIGNATURE = 0x06054b50,
    ZIP64_END_SIGNATURE = 0x06064b50,
    ZIP64_LOCATOR_SIGNATURE = 0x07064b50,
    ZIP64_EXTRA_ID = 0x0001,
    LOCAL_HEADER_SIZE = 30,
    CENTRAL_HEADER_SIZE = 46,
    END_SIZE = 22,
    ZIP64_END_SIZE = 56,
    ZIP64_LOCATOR_SIZE = 20,
};

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* [offset, offset + length) lies inside the archive (overflow-safe). */
static bool in_bounds(const rf_zip *zip, uint64_t offset, uint64_t length) {
    return offset <= zip->size && length <= zip->size - offset;
}

/* The end of central directory record: the last signature from which the
 * record and its comment exactly reach the end of the file. */
static rf_status find_end_record(const rf_zip *zip, uint64_t *end_offset) {
    if (zip->size < END_SIZE)
        return RF_ERROR(RF_ERR_FORMAT, "%s: %llu bytes is too small for a ZIP archive (truncated?)", zip->label,
                        (unsigned long long)zip->size);
    uint64_t lowest = zip->size > END_SIZE + 0xffff ? zip->size - END_SIZE - 0xffff : 0;
    for (uint64_t pos = zip->size - END_SIZE;; pos--) {
        const uint8_t *p = zip->data + pos;
        if (le32(p) == END_SIGNATURE && pos + END_SIZE + le16(p + 20) == zip->size) {
            *end_offset = pos;
            return RF_OK;
        }
        if (pos == lowest) break;
    }
    return RF_ERROR(RF_ERR_FORMAT, "%s: no ZIP end-of-central-directory record (truncated or not a PyTorch zip checkpoint)",
                    zip->label);
}

/* Where the central directory is and how many entries it has, from the
 * classic record or, when present, the ZIP64 record it points to. */
static rf_status locate_directory(const rf_zip *zip, uint64_t end, uint64_t *count, uint64_t *dir_offset, uint64_t *dir_size) {
    const uint8_t *e = zip->data + end;
    if (le16(e + 4) != 0 || le16(e + 6) != 0 || le16(e + 8) != le16(e + 10))
        return RF_ERROR(RF_ERR_UNSUPPORTED, "%s: multi-disk ZIP archives are not supported", zip->label);
    *count = le16(e + 10);
    *dir_size = le32(e + 12);
    *dir_offset = le32(e + 16);
    if (end >= ZIP64_LOCATOR_SIZE && le32(zip->data + end - ZIP64_LOCATOR_SIZE) == ZIP64_LOCATOR_SIGNATURE) {
        const uint8_t *locator = zip->data + end - ZIP64_LOCATOR_SIZE;
        uint64_t record = le64(locator + 8);
        if (!in_bounds(zip, record, ZIP64_END_SIZE) || le32(zip->data + record) != ZIP64_END_SIGNATURE)
            return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP64 locator points to no ZIP64 end record (offset %llu)", zip->label,
                            (unsigned long long)record);
        const uint8_t *z = zip->data + record;
        if (le32(z + 16) != 0 || le32(z + 20) != 0 || le64(z + 24) != le64(z + 32))
            return RF_ERROR(RF_ERR_UNSUPPORTED, "%s: multi-disk ZIP archives are not supported", zip->label);
        *count = le64(z + 32);
        *dir_size = le64(z + 40);
        *dir_offset = le64(z + 48);
    } else if (*count == 0xffff || *dir_size == 0xffffffffu || *dir_offset == 0xffffffffu) {
        return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP needs a ZIP64 end record but has none (truncated?)", zip->label);
    }
    if (!in_bounds(zip, *dir_offset, *dir_size))
        return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP central directory [%llu, +%llu) lies beyond the %llu-byte file (truncated?)",
                        zip->label, (unsigned long long)*dir_offset, (unsigned long long)*dir_size,
                        (unsigned long long)zip->size);
    if (*count > *dir_size / CENTRAL_HEADER_SIZE)
        return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP claims %llu entries in a %llu-byte central directory", zip->label,
                        (unsigned long long)*count, (unsigned long long)*dir_size);
    return RF_OK;
}

/* Replaces the 32-bit fields saturated at 0xffffffff by the 64-bit values
 * of the ZIP64 extra field, which holds exactly those, in this order. */
static rf_status apply_zip64_extra(const rf_zip *zip, const char *name, const uint8_t *extra, uint32_t extra_length,
                                   rf_zip_entry *entry, uint64_t *local_offset) {
    uint64_t *fields[3] = {&entry->size, &entry->compressed_size, local_offset};
    bool saturated[3] = {entry->size == 0xffffffffu, entry->compressed_size == 0xffffffffu, *local_offset == 0xffffffffu};
    bool needed = saturated[0] || saturated[1] || saturated[2];
    for (uint32_t k = 0; k + 4 <= extra_length;) {
        uint16_t id = le16(extra + k), length = le16(extra + k + 2);
        if (k + 4 + length > extra_length) break;
        if (id == ZIP64_EXTRA_ID) {
            const uint8_t *v = extra + k + 4;
            uint32_t used = 0;
            for (int f = 0; f < 3; f++) {
                if (!saturated[f]) continue;
                if (used + 8 > length)
                    return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP entry \"%s\": ZIP64 extra field too short", zip->label, name);
                *fields[f] = le64(v + used);
                used += 8;
            }
            return RF_OK;
        }
        k += 4u + length;
    }
    if (needed) return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP entry \"%s\": sizes need a ZIP64 extra field that is missing", zip->label, name);
    return RF_OK;
}

static rf_status read_entry(rf_zip *zip, const uint8_t *p, uint64_t remaining, rf_zip_entry *entry, uint64_t *consumed) {
    if (remaining < CENTRAL_HEADER_SIZE || le32(p) != CENTRAL_HEADER_SIGNATURE)
        return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP central directory entry %d is malformed", zip->label, zip->count);
    uint16_t flags = le16(p + 8);
    entry->method = le16(p + 10);
    entry->crc32 = le32(p + 16);
    entry->compressed_size = le32(p + 20);
    entry->size = le32(p + 24);
    uint16_t name_length = le16(p + 28), extra_length = le16(p + 30), comment_length = le16(p + 32);
    uint64_t local_offset = le32(p + 42);
    uint64_t total = (uint64_t)CENTRAL_HEADER_SIZE + name_length + extra_length + comment_length;
    if (total > remaining)
        return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP central directory entry %d runs past the directory", zip->label, zip->count);
    entry->name = malloc((size_t)name_length + 1);
    if (!entry->name) return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory", zip->label);
    memcpy(entry->name, p + CENTRAL_HEADER_SIZE, name_length);
    entry->name[name_length] = '\0';
    if (memchr(entry->name, '\0', name_length))
        return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP entry %d has a NUL byte in its name", zip->label, zip->count);
    RF_TRY(apply_zip64_extra(zip, entry->name, p + CENTRAL_HEADER_SIZE + name_length, extra_length, entry, &local_offset));
    if (flags & 1) return RF_ERROR(RF_ERR_UNSUPPORTED, "%s: ZIP entry \"%s\" is encrypted", zip->label, entry->name);
    if (entry->method != 0 && entry->method != 8)
        return RF_ERROR(RF_ERR_UNSUPPORTED, "%s: ZIP entry \"%s\" uses compression method %u (only stored and deflate are supported)",
                        zip->label, entry->name, entry->method);
    if (entry->method == 0 && entry->compressed_size != entry->size)
        return RF_ERROR(RF_ERR_FORMAT, "%s: stored ZIP entry \"%s\" has compressed size %llu != size %llu", zip->label,
                        entry->name, (unsigned long long)entry->compressed_size, (unsigned long long)entry->size);
    /* The local header repeats the name; its extra field (torch pads it to
     * align the data) may differ in length from the central one. */
    if (!in_bounds(zip, local_offset, LOCAL_HEADER_SIZE) || le32(zip->data + local_offset) != LOCAL_HEADER_SIGNATURE)
        return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP entry \"%s\": no local header at offset %llu (truncated?)", zip->label,
                        entry->name, (unsigned long long)local_offset);
    const uint8_t *local = zip->data + local_offset;
    uint64_t data_offset = local_offset + LOCAL_HEADER_SIZE + le16(local + 26) + le16(local + 28);
    if (le16(local + 26) != name_length || !in_bounds(zip, local_offset + LOCAL_HEADER_SIZE, name_length) ||
        memcmp(local + LOCAL_HEADER_SIZE, entry->name, name_length) != 0)
        return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP entry \"%s\": local header names another file", zip->label, entry->name);
    if (!in_bounds(zip, data_offset, entry->compressed_size))
        return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP entry \"%s\": %llu bytes at offset %llu run past the end of the file (truncated?)",
                        zip->label, entry->name, (unsigned long long)entry->compressed_size, (unsigned long long)data_offset);
    entry->data_offset = data_offset;
    *consumed = total;
    return RF_OK;
}

rf_status rf_zip_open(rf_zip *zip, const uint8_t *data, uint64_t size, const char *label) {
    memset(zip, 0, sizeof *zip);
    zip->label = label;
    zip->data = data;
    zip->size = size;
    uint64_t end = 0, count = 0, dir_offset = 0, dir_size = 0;
    rf_status s = find_end_record(zip, &end);
    if (s == RF_OK) s = locate_directory(zip, end, &count, &dir_offset, &dir_size);
    if (s == RF_OK && count > 0) {
        zip->entries = calloc((size_t)count, sizeof *zip->entries);
        if (!zip->entries) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory", label);
    }
    uint64_t pos = dir_offset;
    for (uint64_t k = 0; s == RF_OK && k < count; k++) {
        uint64_t consumed = 0;
        s = read_entry(zip, zip->data + pos, dir_offset + dir_size - pos, &zip->entries[k], &consumed);
        zip->count++; /* counted even on failure so close frees the name */
        pos += consumed;
    }
    if (s == RF_OK) {
        const char **names = malloc((size_t)(zip->count ? zip->count : 1) * sizeof *names);
        if (!names) s = RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory", label);
        for (int k = 0; s == RF_OK && k < zip->count; k++) names[k] = zip->entries[k].name;
        if (s == RF_OK) s = rf_name_index_build(&zip->index, names, zip->count);
        if (s != RF_OK && names) s = rf_error_prefix(s, "%s: ZIP: ", label);
        free(names);
    }
    if (s != RF_OK) rf_zip_close(zip);
    return s;
}

void rf_zip_close(rf_zip *zip) {
    for (int k = 0; k < zip->count; k++) free(zip->entries[k].name);
    free(zip->entries);
    rf_name_index_free(&zip->index);
    memset(zip, 0, sizeof *zip);
}

int rf_zip_find(const rf_zip *zip, const char *name) { return rf_name_index_find(&zip->index, name); }

/* zlib's crc32 takes uInt lengths; feed it in pieces. */
static uint32_t crc32_of(const uint8_t *data, uint64_t length) {
    uLong crc = crc32(0L, Z_NULL, 0);
    while (length > 0) {
        uInt piece = length > (1u << 30) ? (1u << 30) : (uInt)length;
        crc = crc32(crc, data, piece);
        data += piece;
        length -= piece;
    }
    return (uint32_t)crc;
}

static rf_status inflate_entry(const rf_zip *zip, const rf_zip_entry *entry, uint8_t *out) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return RF_ERROR(RF_ERR_INTERNAL, "%s: zlib inflateInit2 failed", zip->label);
    const uint8_t *in = zip->data + entry->data_offset;
    uint64_t in_left = entry->compressed_size, out_left = entry->size;
    int rc = Z_OK;
    z.next_out = out;
    z.next_in = (Bytef *)in;
    while (rc == Z_OK) {
        if (z.avail_in == 0 && in_left > 0) {
            z.avail_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
            in_left -= z.avail_in;
        }
        if (z.avail_out == 0 && out_left > 0) {
            z.avail_out = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
            out_left -= z.avail_out;
        }
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR && z.avail_in == 0 && in_left == 0) break; /* input ended early */
        if (rc == Z_BUF_ERROR && z.avail_out == 0 && out_left == 0) break; /* more output than declared */
    }
    uint64_t produced = (uint64_t)(z.next_out - out);
    inflateEnd(&z);
    if (rc != Z_STREAM_END || produced != entry->size)
        return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP entry \"%s\": corrupt deflate data (%s)", zip->label, entry->name,
                        rc == Z_STREAM_END ? "size differs from the directory" : z.msg ? z.msg : "stream ends early");
    return RF_OK;
}

rf_status rf_zip_read(rf_zip *zip, int i, uint64_t max_inflated, const uint8_t **data, uint8_t **owned) {
    *data = NULL;
    *owned = NULL;
    if (i < 0 || i >= zip->count) return RF_ERROR(RF_ERR_INVALID_ARGUMENT, "%s: ZIP entry %d out of range", zip->label, i);
    rf_zip_entry *entry = &zip->entries[i];
    const uint8_t *bytes = zip->data + entry->data_offset;
    if (entry->method == 8) {
        /* The directory's size is the file's claim, and a few MB of deflate
         * stream can honestly inflate to gigabytes: the caller's need, not
         * the claim, decides what is allocated. */
        /* Deflate expands at most 1032:1 (a 258-byte match in under 2 bits). */
        if (entry->size / 1032 > entry->compressed_size + 1)
            return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP entry \"%s\" claims %llu bytes from %llu compressed ones, more than "
                            "deflate can produce (corrupt file)",
                            zip->label, entry->name, (unsigned long long)entry->size,
                            (unsigned long long)entry->compressed_size);
        if (entry->size > max_inflated)
            return RF_ERROR(RF_ERR_FORMAT,
                            "%s: ZIP entry \"%s\" would inflate to %llu bytes, more than the %llu its contents need "
                            "(corrupt, or a decompression bomb)",
                            zip->label, entry->name, (unsigned long long)entry->size, (unsigned long long)max_inflated);
        uint8_t *buffer = malloc(entry->size ? (size_t)entry->size : 1);
        if (!buffer)
            return RF_ERROR(RF_ERR_OUT_OF_MEMORY, "%s: out of host memory inflating %llu bytes of \"%s\"", zip->label,
                            (unsigned long long)entry->size, entry->name);
        rf_status s = inflate_entry(zip, entry, buffer);
        if (s != RF_OK) {
            free(buffer);
            return s;
        }
        bytes = buffer;
        *owned = buffer;
    }
    /* torch.serialization.set_crc32_options(False) records a CRC of 0:
     * nothing to check then. */
    if (entry->crc32 != 0 && (!entry->crc_checked || entry->method == 8)) {
        uint32_t crc = crc32_of(bytes, entry->size);
        if (crc != entry->crc32) {
            free(*owned);
            *owned = NULL;
            return RF_ERROR(RF_ERR_FORMAT, "%s: ZIP entry \"%s\": CRC-32 %08x does not match the recorded %08x (corrupt file)",
                            zip->label, entry->name, crc, entry->crc32);
        }
        entry->crc_checked = true;
    }
    *data = bytes;
    return RF_OK;
}
