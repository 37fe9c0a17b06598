/* device.h — the portability header of the one kernel source.
 *
 * Every file in backend/kernels/ is compiled three ways: as OpenCL C (the
 * OpenCL backend embeds this header and the family's file and builds them on
 * the device), as CUDA C++ (backend/cuda/kernels_<family>.cu includes them)
 * and as C (the cpu device includes the device functions; its loops are its
 * own). The files use only what this header defines or what all three
 * languages share, so a kernel's math is written once:
 *
 *   RF_KERNEL            a kernel entry point (absent on the cpu)
 *   RF_FN                a device function
 *   RF_GLOBAL, RF_LOCAL  address spaces of kernel pointers
 *   RF_LOCAL_ARRAY       a work-group (CUDA: block) shared array, declared at
 *                        the top of a kernel
 *   RF_CONST_ARRAY       a read-only table at file scope
 *   rf_long, rf_ulong, rf_uint, rf_long8 (a by-value 8-vector with .s0..s7)
 *   rf_global_id(d), rf_local_id(d), rf_group_id(d), rf_local_size(d),
 *   rf_num_groups(d), rf_global_size(d), rf_barrier()
 *   rf_fmaf, rf_floorf, rf_as_uint, rf_as_float, rf_mul_hi: float and integer
 *   operations whose bits must be identical everywhere (random fills, the
 *   bilinear corner choice).
 *
 * Generic device math (sigmoid, GIoU, AdamW, ...) is written over the
 * scalar type RF_S, its literals RF_C(0.5) and the plain C library names
 * (exp, log, fmax, ...), which all three languages resolve by type: RF_S
 * is float on the devices and double on the cpu, whose reference kernels
 * compute in double. Files that need both on the cpu (the bilinear taps
 * the reference runs in storage precision) are templates over RF_S and
 * RF_SN(name) and are included once per type; elsewhere RF_SN(name) is name.
 *
 * Kernels take a buffer as (pointer, element offset): OpenCL buffers have no
 * pointer arithmetic on the host.
 */
#ifndef RFDETR_KERNELS_DEVICE_H
#define RFDETR_KERNELS_DEVICE_H

#define RF_MAX_DIMS 6
/* Work-group size of the kernels that reduce a row cooperatively (a power
 * of two); launchers use min(this, the device's limit) rounded down to a
 * power of two. */
#define RF_GROUP 256

#if defined(__OPENCL_VERSION__)
/* ---- OpenCL C ------------------------------------------------------------ */
#define RF_DEVICE_GPU 1
#define RF_KERNEL __kernel void
#define RF_FN inline
#define RF_GLOBAL __global
#define RF_LOCAL __local
#define RF_LOCAL_ARRAY(type, name, n) __local type name[n]
#define RF_CONST_ARRAY(type, name, n) __constant type name[n]
#define RF_CONST_PTR __constant const
typedef long rf_long;
typedef ulong rf_ulong;
typedef uint rf_uint;
typedef long8 rf_long8;
#define rf_global_id(d) ((rf_long)get_global_id(d))
#define rf_local_id(d) ((int)get_local_id(d))
#define rf_group_id(d) ((rf_long)get_group_id(d))
#define rf_local_size(d) ((int)get_local_size(d))
#define rf_num_groups(d) ((rf_long)get_num_groups(d))
#define rf_global_size(d) ((rf_long)get_global_size(d))
#define rf_barrier() barrier(CLK_LOCAL_MEM_FENCE)
#define rf_fmaf(a, b, c) fma((a), (b), (c))
#define rf_floorf(x) floor(x)
#define rf_as_uint(x) as_uint(x)
#define rf_as_float(x) as_float(x)
#define rf_mul_hi(a, b) mul_hi((a), (b))
#define rf_min_l(a, b) min((a), (b))
#define rf_isnan(x) isnan(x)
#define RF_INFINITY INFINITY
#define RF_NAN NAN

#elif defined(__CUDACC__)
/* ---- CUDA C++ ------------------------------------------------------------ */
#include <cmath>
#include <cstdint>
#define RF_DEVICE_GPU 1
#define RF_KERNEL extern "C" __global__ void
#define RF_FN static __device__ inline
#define RF_GLOBAL
#define RF_LOCAL
#define RF_LOCAL_ARRAY(type, name, n) __shared__ type name[n]
#define RF_CONST_ARRAY(type, name, n) static __constant__ const type name[n]
#define RF_CONST_PTR const
typedef long long rf_long;
typedef unsigned long long rf_ulong;
typedef unsigned int rf_uint;
/* The layout of OpenCL's long8 (64-byte aligned), so one host-side argument
 * serves both backends. */
typedef struct __align__(64) rf_long8 {
    long long s0, s1, s2, s3, s4, s5, s6, s7;
} rf_long8;
static __device__ inline rf_long rf_cuda_dim(int d, unsigned x, unsigned y, unsigned z) {
    return d == 0 ? x : d == 1 ? y : z;
}
#define rf_local_id(d) ((int)rf_cuda_dim((d), threadIdx.x, threadIdx.y, threadIdx.z))
#define rf_group_id(d) rf_cuda_dim((d), blockIdx.x, blockIdx.y, blockIdx.z)
#define rf_local_size(d) ((int)rf_cuda_dim((d), blockDim.x, blockDim.y, blockDim.z))
#define rf_num_groups(d) rf_cuda_dim((d), gridDim.x, gridDim.y, gridDim.z)
#define rf_global_id(d) (rf_group_id(d) * rf_local_size(d) + rf_local_id(d))
#define rf_global_size(d) (rf_num_groups(d) * rf_local_size(d))
#define rf_barrier() __syncthreads()
#define rf_fmaf(a, b, c) fmaf((a), (b), (c))
#define rf_floorf(x) floorf(x)
#define rf_as_uint(x) __float_as_uint(x)
#define rf_as_float(x) __uint_as_float(x)
#define rf_mul_hi(a, b) __umulhi((a), (b))
#define rf_min_l(a, b) ((a) < (b) ? (a) : (b))
#define rf_isnan(x) isnan(x)
#define RF_INFINITY INFINITY
#define RF_NAN NAN

#else
/* ---- C (the cpu device) ------------------------------------------------- */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#define RF_FN static inline
#define RF_GLOBAL
#define RF_LOCAL
#define RF_CONST_ARRAY(type, name, n) static const type name[n]
#define RF_CONST_PTR const
typedef int64_t rf_long;
typedef uint64_t rf_ulong;
typedef uint32_t rf_uint;
#define rf_fmaf(a, b, c) fmaf((a), (b), (c))
#define rf_floorf(x) floorf(x)
static inline rf_uint rf_as_uint(float f) {
    rf_uint u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float rf_as_float(rf_uint u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
#define rf_mul_hi(a, b) ((rf_uint)(((uint64_t)(a) * (uint64_t)(b)) >> 32))
#define rf_min_l(a, b) ((a) < (b) ? (a) : (b))
#define rf_isnan(x) isnan(x)
#define RF_INFINITY INFINITY
#define RF_NAN NAN
#endif

/* The scalar of generic device math: float on the devices, double in the
 * cpu reference (which may also instantiate templates in float itself). */
#ifndef RF_S
#ifdef RF_DEVICE_GPU
#define RF_S float
#else
#define RF_S double
#endif
#endif
#ifndef RF_SN
#define RF_SN(name) name
#endif
/* A literal of the scalar type: float on the devices (an unsuffixed literal
 * is a double in OpenCL C and CUDA), full precision on the cpu. */
#ifdef RF_DEVICE_GPU
#define RF_C(x) (x##f)
#else
#define RF_C(x) ((RF_S)(x))
#endif

#endif /* RFDETR_KERNELS_DEVICE_H */
