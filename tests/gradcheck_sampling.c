/* gradcheck_sampling.c — finite-difference checks of the sampling family's backward
 * kernels (none until the family is implemented; see backend/kernels.h). */
#include "gradcheck.h"

void gradcheck_sampling(void) {}
