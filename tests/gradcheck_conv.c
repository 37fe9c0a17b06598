/* gradcheck_conv.c — finite-difference checks of the conv family's backward
 * kernels (none until the family is implemented; see backend/kernels.h). */
#include "gradcheck.h"

void gradcheck_conv(void) {}
