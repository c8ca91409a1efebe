/* h5out.c: see h5out.h. */
#include "kernels/h5out.h"

#include <hdf5.h>

#include "ringmaster.h"

int rm_h5_write_words(const char *path, const char *const *words, const uint64_t *counts, size_t n)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the caller reports one line */
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims = n;
    hid_t space = H5Screate_simple(1, &dims, NULL);
    hid_t str = H5Tcopy(H5T_C_S1);
    int rc = f >= 0 && space >= 0 && str >= 0 && H5Tset_size(str, H5T_VARIABLE) >= 0 &&
                     H5Tset_cset(str, H5T_CSET_UTF8) >= 0
                 ? 0
                 : RM_EIO;
    hid_t dw =
        rc == 0 ? H5Dcreate2(f, "/words", str, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    hid_t dc = rc == 0 ? H5Dcreate2(f, "/counts", H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                                    H5P_DEFAULT)
                       : -1;
    if (dw < 0 || dc < 0 ||
        (n && (H5Dwrite(dw, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, words) < 0 ||
               H5Dwrite(dc, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, counts) < 0)))
        rc = RM_EIO;
    if (dw >= 0)
        H5Dclose(dw);
    if (dc >= 0)
        H5Dclose(dc);
    if (str >= 0)
        H5Tclose(str);
    if (space >= 0)
        H5Sclose(space);
    if (f >= 0 && H5Fclose(f) < 0)
        rc = RM_EIO;
    return rc;
}
