/* ref_instantiate.h — compiles a reference-kernel template twice, in float
 * (what the cpu device runs) and in double (what gradient checks run).
 *
 * Usage, in backend/cpu/ref_<family>.c:
 *     #define RF_REF_TEMPLATE "backend/cpu/ref_<family>_impl.h"
 *     #include "backend/cpu/ref_instantiate.h"
 * The template sees REAL (the element type) and FN(name) (name_f32 or
 * name_f64). No include guard on purpose: one use per family file. */

#define RF_REF_CAT_(a, b) a##_##b
#define RF_REF_CAT(a, b) RF_REF_CAT_(a, b)
#define FN(name) RF_REF_CAT(name, SUFFIX)

#define REAL float
#define SUFFIX f32
#include RF_REF_TEMPLATE
#undef REAL
#undef SUFFIX

#define REAL double
#define SUFFIX f64
#include RF_REF_TEMPLATE
#undef REAL
#undef SUFFIX

#undef FN
#undef RF_REF_CAT
#undef RF_REF_CAT_
