/* gradcheck_loss.c — finite-difference checks of the loss family's backward
 * kernels (none until the family is implemented; see backend/kernels.h). */
#include "gradcheck.h"

void gradcheck_loss(void) {}
