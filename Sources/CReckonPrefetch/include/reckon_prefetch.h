#ifndef RECKON_PREFETCH_H
#define RECKON_PREFETCH_H
/* A cache hint Swift has no spelling for: start loading the line that holds p (for reading, kept
   in all cache levels). It never faults and never changes a result, only when memory arrives. */
static inline void reckon_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}
#endif
