/* test_gradcheck.c — every backward kernel against central finite
 * differences, in double precision on the reference implementations. Each
 * kernel family adds its checks in gradcheck_<family>.c. */
#include "gradcheck.h"

void gradcheck_basic(void);
void gradcheck_conv(void);
void gradcheck_sampling(void);
void gradcheck_loss(void);

int main(void) {
    gradcheck_basic();
    gradcheck_conv();
    gradcheck_sampling();
    gradcheck_loss();
    return test_finish("test_gradcheck");
}
