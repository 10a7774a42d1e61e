/* A JSON line read without building it (pipeline/_json.c), for the C hot path (_hotpath.c). */

#ifndef LLM_EXPORTER_JSON_H
#define LLM_EXPORTER_JSON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

enum { J_ABSENT, J_STRING, J_NUMBER, J_TRUE, J_FALSE, J_NULL, J_OBJECT, J_ARRAY };
enum { J_ESCAPED = 1, J_INTEGER = 2, J_NEGATIVE = 4 }; /* flags of strings, of numbers */

/* Where a value is: a string's text inside its quotes, any other value whole. */
typedef struct {
    const char *p;
    Py_ssize_t n;
    unsigned char kind, flags;
} JsonValue;

#define JSON_KEYS_MAX 24
#define JSON_KEY_LENGTH 32       /* keys asked for are shorter */
#define JSON_KEYS_OF_A_LENGTH 5  /* and at most this many share a length */

/* The keys of an object whose values are wanted. */
typedef struct {
    int n;
    const char *names[JSON_KEYS_MAX];
    signed char by_length[JSON_KEY_LENGTH][JSON_KEYS_OF_A_LENGTH + 1]; /* the keys of each length, -1 after */
} JsonKeys;

/* Index `names` by length, once: 0, or -1 for keys past what the index holds. */
int json_keys_ready(JsonKeys *keys);

/* Whether [p, end) is one JSON object, whitespace around it allowed, that this reader takes: 1
   with out[i] set to the value of keys->names[i] (J_ABSENT for a key not there), 0 if it is not
   JSON or is JSON this reader leaves alone (see _json.c). `p` must be valid UTF-8. */
int json_object(const char *p, const char *end, const JsonKeys *keys, JsonValue *out);

/* A number with no fraction or exponent, 0 to `max`: 1 with it, 0 for any other value. */
int json_count(const JsonValue *v, long long max, long long *out);

/* A number's value as Python's float() would give it: 1 with it, -1 on error. */
int json_double(const JsonValue *v, double *out);

#endif
