#include "data/paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *rf_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", dir, *dir ? "/" : "", name);
    return s;
}
