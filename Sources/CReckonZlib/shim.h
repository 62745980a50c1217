#ifndef RECKON_ZLIB_SHIM_H
#define RECKON_ZLIB_SHIM_H
#include <zlib.h>
/* inflateInit2 and deflateInit2 are macros: invisible to Swift, so wrap them. */
static inline int reckon_inflateInit2(z_streamp s, int windowBits) {
    return inflateInit2(s, windowBits);
}
static inline int reckon_deflateInit2(z_streamp s, int level, int method, int windowBits,
                                      int memLevel, int strategy) {
    return deflateInit2(s, level, method, windowBits, memLevel, strategy);
}
#endif
