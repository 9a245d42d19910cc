/* JSON pull scanner (see jscan.h). */
#include "jscan.h"

#include <stdio.h>
#include <string.h>

#include "ilr/error.h"

#define JSCAN_MAX_DEPTH 256

int jscan_fail(const jscan *s, const char *what) {
    int line = 1, col = 1;
    for (size_t i = 0; i < s->pos && i < s->len; i++) {
        if (s->text[i] == '\n') line++, col = 1;
        else col++;
    }
    return ILR_FAIL(ILR_EFORMAT, "%s:%d:%d: %s", s->name, line, col, what);
}

char jscan_peek(jscan *s) {
    while (s->pos < s->len && (s->text[s->pos] == ' ' || s->text[s->pos] == '\n' || s->text[s->pos] == '\r' ||
                               s->text[s->pos] == '\t'))
        s->pos++;
    return s->pos < s->len ? s->text[s->pos] : 0;
}

int jscan_expect(jscan *s, char c) {
    if (jscan_peek(s) != c) {
        char what[48];
        snprintf(what, sizeof what, "expected '%c'", c);
        return jscan_fail(s, what);
    }
    s->pos++;
    return 0;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if ((c | 32) >= 'a' && (c | 32) <= 'f') v |= (unsigned)((c | 32) - 'a' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *out, unsigned cp) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) return out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), 2;
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18), out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* \uXXXX, with a following low surrogate when XXXX is a high one.  *p is just after the 'u'. */
static int unicode_escape(jscan *s, unsigned *cp) {
    if (s->pos + 4 > s->len || hex4(s->text + s->pos, cp)) return jscan_fail(s, "bad \\u escape");
    s->pos += 4;
    if (*cp >= 0xdc00 && *cp <= 0xdfff) return jscan_fail(s, "lone low surrogate in \\u escape");
    if (*cp >= 0xd800 && *cp <= 0xdbff) {
        unsigned lo;
        if (s->pos + 6 > s->len || s->text[s->pos] != '\\' || s->text[s->pos + 1] != 'u' ||
            hex4(s->text + s->pos + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
            return jscan_fail(s, "high surrogate without a low one in \\u escape");
        s->pos += 6;
        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    return 0;
}

int jscan_string(jscan *s, char *out, size_t cap, size_t *len) {
    int rc = jscan_expect(s, '"');
    if (rc) return rc;
    size_t o = 0;
    while (s->pos < s->len) {
        unsigned char c = (unsigned char)s->text[s->pos++];
        if (o + 4 >= cap) return jscan_fail(s, "string too long");
        if (c == '"') {
            out[o] = 0;
            if (len) *len = o;
            return 0;
        }
        if (c < 0x20) return jscan_fail(s, "control character in string");
        if (c != '\\') {
            out[o++] = (char)c;
            continue;
        }
        if (s->pos >= s->len) break;
        char e = s->text[s->pos++];
        unsigned cp = 0;
        switch (e) {
        case '"': case '\\': case '/': out[o++] = e; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u':
            if ((rc = unicode_escape(s, &cp))) return rc;
            o += put_utf8(out + o, cp);
            break;
        default: return jscan_fail(s, "bad escape in string");
        }
    }
    return jscan_fail(s, "unterminated string");
}

int jscan_int(jscan *s, long long lo, long long hi, long long *out) {
    jscan_peek(s);
    size_t start = s->pos;
    int negative = s->pos < s->len && s->text[s->pos] == '-';
    if (negative) s->pos++;
    long long v = 0;
    int digits = 0;
    while (s->pos < s->len && s->text[s->pos] >= '0' && s->text[s->pos] <= '9' && digits < 18)
        v = v * 10 + (s->text[s->pos++] - '0'), digits++;
    if (negative) v = -v;
    if (!digits || (s->pos < s->len && strchr("0123456789.eE", s->text[s->pos])) || v < lo || v > hi) {
        s->pos = start;
        char what[96];
        snprintf(what, sizeof what, "expected an integer in [%lld, %lld]", lo, hi);
        return jscan_fail(s, what);
    }
    *out = v;
    return 0;
}

static int skip_string(jscan *s) {
    s->pos++; /* the opening quote */
    while (s->pos < s->len) {
        char c = s->text[s->pos++];
        if (c == '"') return 0;
        if (c == '\\') s->pos++;
    }
    return jscan_fail(s, "unterminated string");
}

int jscan_skip_value(jscan *s, size_t *start, size_t *end) {
    char c = jscan_peek(s);
    if (start) *start = s->pos;
    int rc = 0;
    if (c == '"') {
        rc = skip_string(s);
    } else if (c == '{' || c == '[') {
        if (++s->depth > JSCAN_MAX_DEPTH) return jscan_fail(s, "nested too deeply");
        char close = c == '{' ? '}' : ']';
        s->pos++;
        if (jscan_peek(s) == close) s->pos++;
        else
            for (;;) {
                if (c == '{' && ((rc = jscan_skip_value(s, NULL, NULL)) || (rc = jscan_expect(s, ':')))) break;
                if ((rc = jscan_skip_value(s, NULL, NULL))) break;
                char n = jscan_peek(s);
                s->pos++;
                if (n == close) break;
                if (n != ',') {
                    s->pos--;
                    rc = jscan_fail(s, "expected ',' or the end of the object or array");
                    break;
                }
            }
        s->depth--;
    } else if (c && strchr("-0123456789tfn", c)) {
        while (s->pos < s->len && strchr("-+.eE0123456789truefalsn", s->text[s->pos])) s->pos++;
    } else {
        rc = jscan_fail(s, c ? "unexpected character" : "unexpected end of input");
    }
    if (end) *end = s->pos;
    return rc;
}
