/* JSON lines validated and read in place: the values of the keys asked for are located, nothing
 * is built.
 *
 * What this reader takes it must take as orjson does (pipeline/hotpath.py): a line it accepts is
 * one orjson accepts, and what it reads of it is what orjson gives. So it refuses all that orjson
 * refuses (a control character in a string, a bad escape, a lone surrogate, a trailing comma, a
 * leading zero, anything after the object...), and, to stay on the sure side, JSON it would have
 * to read more carefully than it needs to: an escaped key (it could spell one asked for), a key
 * asked for twice (orjson keeps the last), numbers of over 40 digits or an exponent past 250,
 * nesting over 64 deep. Those lines go the Python way, which reads them or says why not.
 * tests/test_hotpath.py holds it to orjson on lines mutated byte by byte.
 */

#include "_json.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_DEPTH 64
#define MAX_DIGITS 40
#define MAX_EXPONENT 250

int json_keys_ready(JsonKeys *keys) {
    memset(keys->by_length, -1, sizeof(keys->by_length));
    for (int i = 0; i < keys->n; i++) {
        size_t n = strlen(keys->names[i]), at = 0;
        if (n >= JSON_KEY_LENGTH) return -1;
        while (at < JSON_KEYS_OF_A_LENGTH && keys->by_length[n][at] >= 0) at++;
        if (at == JSON_KEYS_OF_A_LENGTH) return -1;
        keys->by_length[n][at] = (signed char)i;
    }
    return 0;
}

/* The index of the key [name, name + n) among `keys`, or -1. */
static inline int key_index(const JsonKeys *keys, const char *name, Py_ssize_t n) {
    if (n >= JSON_KEY_LENGTH) return -1;
    for (const signed char *at = keys->by_length[n]; *at >= 0; at++) {
        const char *known = keys->names[*at];
        Py_ssize_t i = 0;
        while (i < n && known[i] == name[i]) i++;
        if (i == n) return *at;
    }
    return -1;
}

static inline const char *space(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Four hex digits at p (the caller checked there are four bytes). */
static int hex4(const char *p, unsigned *out) {
    unsigned value = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)p[i], low = c | 0x20;
        unsigned d;
        if (is_digit((char)c)) d = c - '0';
        else if (low >= 'a' && low <= 'f') d = low - 'a' + 10;
        else return 0;
        value = value << 4 | d;
    }
    *out = value;
    return 1;
}

/* The end of a string whose text starts at p (after its opening quote): just past its closing
   quote, or NULL. Sets J_ESCAPED in *flags if the string has escapes. */
static const char *string_end(const char *p, const char *end, unsigned char *flags) {
    for (;;) {
#ifdef __SSE2__
        /* sixteen bytes a step: a quote, a backslash or a control character (x - 0x1f saturates
           to 0 for x <= 0x1f) */
        const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
        const __m128i control = _mm_set1_epi8(0x1f), zero = _mm_setzero_si128();
        while (end - p >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)p);
            __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                                       _mm_cmpeq_epi8(_mm_subs_epu8(x, control), zero));
            int bits = _mm_movemask_epi8(hit);
            if (bits) {
                p += __builtin_ctz((unsigned)bits);
                break;
            }
            p += 16;
        }
#endif
        while (p < end && (unsigned char)*p >= 0x20 && *p != '"' && *p != '\\') p++;
        if (p >= end || (unsigned char)*p < 0x20) return NULL;
        if (*p == '"') return p + 1;
        *flags |= J_ESCAPED;
        if (end - p < 2) return NULL;
        switch (p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            p += 2;
            break;
        case 'u': {
            unsigned unit, low;
            if (end - p < 6 || !hex4(p + 2, &unit)) return NULL;
            p += 6;
            if (unit >= 0xDC00 && unit <= 0xDFFF) return NULL; /* a low surrogate first */
            if (unit >= 0xD800 && unit <= 0xDBFF &&             /* a high one needs its low one */
                (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &low) || low < 0xDC00 || low > 0xDFFF))
                return NULL;
            if (unit >= 0xD800 && unit <= 0xDBFF) p += 6;
            break;
        }
        default:
            return NULL;
        }
    }
}

/* The end of a number starting at p, or NULL. Sets J_INTEGER (no fraction, no exponent) and
   J_NEGATIVE in *flags. */
static const char *number_end(const char *p, const char *end, unsigned char *flags) {
    Py_ssize_t digits = 0;
    *flags = J_INTEGER;
    if (p < end && *p == '-') {
        *flags |= J_NEGATIVE;
        p++;
    }
    if (p >= end || !is_digit(*p)) return NULL;
    if (*p == '0') {
        p++;
        digits = 1;
    } else {
        for (; p < end && is_digit(*p); p++) digits++;
    }
    if (p < end && *p == '.') {
        const char *first = ++p;
        *flags &= ~J_INTEGER;
        while (p < end && is_digit(*p)) p++;
        if (p == first) return NULL;
        digits += p - first;
    }
    if (p < end && (*p | 0x20) == 'e') {
        *flags &= ~J_INTEGER;
        if (++p < end && (*p == '+' || *p == '-')) p++;
        const char *first = p;
        int exponent = 0;
        for (; p < end && is_digit(*p); p++)
            if (exponent <= MAX_EXPONENT) exponent = exponent * 10 + (*p - '0');
        if (p == first || exponent > MAX_EXPONENT) return NULL;
    }
    return digits > MAX_DIGITS ? NULL : p;
}

static const char *value_end(const char *p, const char *end, int depth, JsonValue *v);

/* The end of an object whose members start at p (after its brace), or NULL. With `keys`, the
   values of those keys go to `out`. */
static const char *object_end(const char *p, const char *end, int depth, const JsonKeys *keys, JsonValue *out) {
    p = space(p, end);
    if (p < end && *p == '}') return p + 1;
    for (;;) {
        if (p >= end || *p != '"') return NULL;
        unsigned char flags = 0;
        const char *name = p + 1, *q = string_end(name, end, &flags);
        if (q == NULL) return NULL;
        int index = -1;
        if (keys != NULL) {
            if (flags) return NULL;
            index = key_index(keys, name, q - 1 - name);
        }
        p = space(q, end);
        if (p >= end || *p != ':') return NULL;
        JsonValue v;
        if ((p = value_end(space(p + 1, end), end, depth, &v)) == NULL) return NULL;
        if (index >= 0) {
            if (out[index].kind != J_ABSENT) return NULL;
            out[index] = v;
        }
        p = space(p, end);
        if (p >= end) return NULL;
        if (*p == '}') return p + 1;
        if (*p != ',') return NULL;
        p = space(p + 1, end);
    }
}

/* The end of an array whose items start at p (after its bracket), or NULL. */
static const char *array_end(const char *p, const char *end, int depth) {
    p = space(p, end);
    if (p < end && *p == ']') return p + 1;
    for (;;) {
        JsonValue v;
        if ((p = value_end(p, end, depth, &v)) == NULL) return NULL;
        p = space(p, end);
        if (p >= end) return NULL;
        if (*p == ']') return p + 1;
        if (*p != ',') return NULL;
        p = space(p + 1, end);
    }
}

static const char *literal_end(const char *p, const char *end, const char *word, size_t n) {
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

/* The end of the value starting at p, or NULL; where it is in *v. */
static const char *value_end(const char *p, const char *end, int depth, JsonValue *v) {
    if (p >= end) return NULL;
    const char *q;
    v->p = p;
    v->flags = 0;
    switch (*p) {
    case '"':
        v->kind = J_STRING;
        v->p = p + 1;
        if ((q = string_end(p + 1, end, &v->flags)) == NULL) return NULL;
        v->n = q - 1 - v->p;
        return q;
    case '{':
        v->kind = J_OBJECT;
        q = depth < MAX_DEPTH ? object_end(p + 1, end, depth + 1, NULL, NULL) : NULL;
        break;
    case '[':
        v->kind = J_ARRAY;
        q = depth < MAX_DEPTH ? array_end(p + 1, end, depth + 1) : NULL;
        break;
    case 't':
        v->kind = J_TRUE;
        q = literal_end(p, end, "true", 4);
        break;
    case 'f':
        v->kind = J_FALSE;
        q = literal_end(p, end, "false", 5);
        break;
    case 'n':
        v->kind = J_NULL;
        q = literal_end(p, end, "null", 4);
        break;
    default:
        v->kind = J_NUMBER;
        q = number_end(p, end, &v->flags);
    }
    if (q != NULL) v->n = q - p;
    return q;
}

int json_object(const char *p, const char *end, const JsonKeys *keys, JsonValue *out) {
    for (int i = 0; i < keys->n; i++) out[i].kind = J_ABSENT;
    p = space(p, end);
    if (p >= end || *p != '{') return 0;
    p = object_end(p + 1, end, 1, keys, out);
    return p != NULL && space(p, end) == end;
}

int json_count(const JsonValue *v, long long max, long long *out) {
    if (v->kind != J_NUMBER || v->flags != J_INTEGER || v->n > 18) return 0;
    long long value = 0;
    for (Py_ssize_t i = 0; i < v->n; i++) value = value * 10 + (v->p[i] - '0');
    if (value > max) return 0;
    *out = value;
    return 1;
}

static const double POWERS_OF_TEN[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int json_double(const JsonValue *v, double *out) {
    const char *p = v->p, *end = p + v->n;
    uint64_t mantissa = 0; /* wraps past 19 digits: used only up to 15 */
    int digits = 0, scale = 0, negative = *p == '-';
    for (p += negative; p < end && is_digit(*p); p++, digits++) mantissa = mantissa * 10 + (uint64_t)(*p - '0');
    if (p < end && *p == '.')
        for (p++; p < end && is_digit(*p); p++, digits++, scale--) mantissa = mantissa * 10 + (uint64_t)(*p - '0');
    if (p < end) { /* an exponent, at most MAX_EXPONENT (number_end) */
        int sign = 1, exponent = 0;
        if (*++p == '-' || *p == '+') sign = *p++ == '-' ? -1 : 1;
        for (; p < end; p++) exponent = exponent * 10 + (*p - '0');
        scale += sign * exponent;
    }
    /* Where the digits and the power of ten are both exact doubles, one multiplication or division
       rounds once, to the nearest double: what float() gives. Else Python's own conversion. */
    if (digits <= 15 && scale >= -22 && scale <= 22) {
        double m = (double)mantissa;
        *out = scale < 0 ? m / POWERS_OF_TEN[-scale] : m * POWERS_OF_TEN[scale];
        if (negative) *out = -*out;
        return 1;
    }
    char *text = PyMem_Malloc((size_t)v->n + 1);
    if (text == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(text, v->p, (size_t)v->n);
    text[v->n] = '\0';
    *out = PyOS_string_to_double(text, NULL, NULL);
    PyMem_Free(text);
    return *out == -1.0 && PyErr_Occurred() ? -1 : 1;
}
