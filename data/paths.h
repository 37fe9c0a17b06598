/* paths.h — path strings of the data layer. */
#ifndef RFDETR_DATA_PATHS_H
#define RFDETR_DATA_PATHS_H

/* "dir/name" in a malloc'd string (NULL when out of memory); an empty dir
 * gives just name. */
char *rf_path_join(const char *dir, const char *name);

/* Whether a file name has an image extension the loaders take (.jpg .jpeg
 * .png .bmp, any case). */
int rf_path_is_image(const char *name);

#endif
