/*
 * h5out.h: HDF5 output files of the kernels, readable by h5dump and h5py.
 * Plain HDF5 (the sec2 driver), written by one process: no MPI-IO. Worker thread only (the
 * HDF5 library here is not built thread-safe, and only that thread uses it).
 */
#ifndef RM_KERNELS_H5OUT_H
#define RM_KERNELS_H5OUT_H

#include <stddef.h>
#include <stdint.h>

/* Creates path (truncating it) with /words, n variable-length UTF-8 strings, and /counts,
 * n uint64, in that order. words and counts are borrowed. Returns 0 or RM_EIO. */
int rm_h5_write_words(const char *path, const char *const *words, const uint64_t *counts, size_t n);

#endif /* RM_KERNELS_H5OUT_H */
