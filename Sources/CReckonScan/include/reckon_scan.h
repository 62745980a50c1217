#ifndef RECKON_SCAN_H
#define RECKON_SCAN_H
#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Where unquoted CSV fields stop, 64 bytes at a time: bit k of the result is set when p[k] is the
   delimiter, a double quote, a line feed or a carriage return, for k < n (n <= 64; bits from n up
   are clear). Reads exactly n bytes. With SSE2 (every x86-64), a full window takes four 16-byte
   loads, sixteen compares and four movemasks; elsewhere, and for the last short window, one byte at
   a time. Swift has no spelling for movemask, hence C. */
static inline uint64_t reckon_csv_stops(const uint8_t *p, size_t n, uint8_t delimiter) {
#if defined(__SSE2__)
    if (n == 64) {
        const __m128i d = _mm_set1_epi8((char)delimiter), q = _mm_set1_epi8('"');
        const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
        uint64_t mask = 0;
        for (int k = 0; k < 4; k++) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
            const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, q)),
                                             _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)));
            mask |= (uint64_t)(uint16_t)_mm_movemask_epi8(hit) << (16 * k);
        }
        return mask;
    }
#endif
    uint64_t mask = 0;
    for (size_t k = 0; k < n && k < 64; k++) {
        const uint8_t c = p[k];
        if (c == delimiter || c == '"' || c == '\n' || c == '\r') mask |= (uint64_t)1 << k;
    }
    return mask;
}
#endif
