/* UTF-8 validation with the maximal-subpart replacement rule, and the ByteLevel byte <-> character map. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int ilr_utf8_next(const unsigned char *s, size_t n, int *complete) {
    *complete = 1;
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    int need;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c == 0xe0) need = 2, lo = 0xa0;
    else if (c >= 0xe1 && c <= 0xec) need = 2;
    else if (c == 0xed) need = 2, hi = 0x9f;
    else if (c >= 0xee && c <= 0xef) need = 2;
    else if (c == 0xf0) need = 3, lo = 0x90;
    else if (c >= 0xf1 && c <= 0xf3) need = 3;
    else if (c == 0xf4) need = 3, hi = 0x8f;
    else return -1;
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= n) {
            *complete = 0;
            return -i;
        }
        unsigned char lower = i == 1 ? lo : 0x80, upper = i == 1 ? hi : 0xbf;
        if (s[i] < lower || s[i] > upper) return -i;
    }
    return need + 1;
}

char *ilr_utf8_sanitize(const char *src, size_t len, size_t *out_len) {
    char *out = malloc(len * 3 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        int complete, k = ilr_utf8_next((const unsigned char *)src + i, len - i, &complete);
        if (k > 0) {
            memcpy(out + o, src + i, (size_t)k);
            o += (size_t)k, i += (size_t)k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3, i += (size_t)-k;
        }
    }
    out[o] = 0;
    *out_len = o;
    return out;
}

void ilr_bytelevel_tables(uint32_t byte_char[256]) {
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        byte_char[b] = printable ? (uint32_t)b : next++;
    }
}

int ilr_bytelevel_decode(const char *piece, size_t len, unsigned char *out) {
    static int char_byte[324]; /* code points 0..323 -> byte, -1 when not a ByteLevel character */
    static int ready;
    if (!ready) { /* idempotent: racing threads write the same values */
        uint32_t byte_char[256];
        ilr_bytelevel_tables(byte_char);
        for (int i = 0; i < 324; i++) char_byte[i] = -1;
        for (int b = 0; b < 256; b++) char_byte[byte_char[b]] = b;
        ready = 1;
    }
    const unsigned char *s = (const unsigned char *)piece;
    int n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        if (s[i] < 0x80) cp = s[i], i += 1;
        else if ((s[i] & 0xe0) == 0xc0 && i + 1 < len) cp = (uint32_t)(s[i] & 0x1f) << 6 | (s[i + 1] & 0x3f), i += 2;
        else return -1;
        if (cp >= 324 || char_byte[cp] < 0) return -1;
        out[n++] = (unsigned char)char_byte[cp];
    }
    return n;
}
