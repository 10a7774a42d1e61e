/* The completion and event formats' common lines, from the read buffer to the metrics store, in C.
 *
 * pipeline/hotpath.py says when this runs and what it is held to. In short: each line of the
 * buffer is read in place (_json.c validates it and locates the values of the keys the format
 * reads; only those are built, as formats.completion.parse or formats.event.parse reads them), and a
 * line whose series, pending request, price and label values are already known is recorded here
 * exactly as SourcePipeline's handlers would record it; every other line (not JSON this reader
 * takes, rejected, another event type, a first sighting, a full table) goes to `slow`, the Python
 * path, with nothing done here. Checks come first and mutations last, so a line is either
 * recorded whole here or handed on untouched.
 *
 * The Python objects are read through their slots' offsets (member descriptors looked up once),
 * each object's type checked before its slots are read.
 */

#include "_json.h"

#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* Built with -ffp-contract=off (setup.py): sums in the order, and with the rounding, of the
   Python they stand for. */

#define SLOT(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

/* The keys a completion line is read for (formats.completion.Line), and those of its usage. */
enum { L_EVENT_TYPE, L_REQUEST_ID, L_MODEL, L_PROVIDER, L_OPERATION, L_RESPONSE_TIME_MS, L_SUCCESS,
       L_ERROR, L_ERROR_TYPE, L_STATUS_CODE, L_TOKEN_USAGE, L_USAGE, L_TTFC_MS, L_COST, L_ACTION, L_SYMBOL,
       L_VALIDATION_RESULT, L_N };
static JsonKeys LINE_KEYS = {L_N, {
    "event_type", "request_id", "model", "provider", "operation", "response_time_ms", "success", "error",
    "error_type", "status_code", "token_usage", "usage", "time_to_first_chunk_ms", "cost_estimate_usd",
    "action", "symbol", "validation_result"}};

enum { U_PROMPT, U_COMPLETION, U_INPUT, U_OUTPUT, U_TOTAL, U_CACHE_READ, U_CACHE_WRITE, U_PROMPT_DETAILS,
       U_COMPLETION_DETAILS, U_N };
static JsonKeys USAGE_KEYS = {U_N, {
    "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "total_tokens",
    "cache_read_input_tokens", "cache_creation_input_tokens", "prompt_tokens_details",
    "completion_tokens_details"}};

enum { D_CACHED, D_REASONING, D_N };
static JsonKeys DETAILS_KEYS = {D_N, {"cached_tokens", "reasoning_tokens"}};

/* The event format's keys (formats.event): its flat counts are the usage object's, first. */
enum { E_MODEL = U_N, E_PROVIDER, E_OPERATION, E_LATENCY_MS, E_STATUS, E_ERROR_TYPE, E_ERROR_MESSAGE,
       E_STATUS_CODE, E_COST, E_CACHED, E_REASONING, E_USAGE, E_N };
static JsonKeys EVENT_KEYS = {E_N, {
    "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "total_tokens",
    "cache_read_input_tokens", "cache_creation_input_tokens", "prompt_tokens_details",
    "completion_tokens_details", "model", "provider", "operation", "latency_ms", "status", "error_type",
    "error_message", "status_code", "cost_usd", "cached_tokens", "reasoning_tokens", "usage"}};

/* Slots read from each type, by name. */
enum { S_LABELS, S_IN_FLIGHT, S_COST, S_DURATION, S_USAGE_INPUT, S_USAGE_OUTPUT, S_TOKENS,
       S_CONSECUTIVE_FAILURES, S_REQUESTS_OK, S_REQUESTS_FAILED, S_TTFC, S_DECISIONS, S_ERRORS,
       S_FAILED_CALLS, S_N };
static const char *SERIES_SLOTS[S_N] = {
    "labels", "in_flight", "cost", "duration", "usage_input", "usage_output", "tokens",
    "consecutive_failures", "requests_ok", "requests_failed", "time_to_first_chunk", "decisions",
    "errors", "failed_calls"};

enum { H_BOUNDS, H_COUNTS, H_SUM, H_N };
static const char *HISTOGRAM_SLOTS[H_N] = {"bounds", "counts", "sum"};

enum { C_SERIES, C_MODEL, C_N };
static const char *CALL_SLOTS[C_N] = {"series", "model"};

enum { P_INPUT, P_OUTPUT, P_CACHE_READ, P_CACHE_WRITE, P_N };
static const char *PRICE_SLOTS[P_N] = {"input", "output", "cache_read", "cache_write"};

enum { UP_BASE, UP_TIERS, UP_N };
static const char *UNIT_PRICE_SLOTS[UP_N] = {"base", "tiers"};

/* The formats read here, and their lines' kinds: the completion format's three event types, and
   the event format's one line a call. */
enum { COMPLETION_FORMAT, EVENT_FORMAT };
enum { REQUEST, RESPONSE, DECISION, CALL };

#define BOUNDS_CACHED 4
#define CALLS_CACHED 4096  /* as SourcePipeline's own cache of series resolutions */

/* A histogram's bounds as doubles (a few layouts serve every histogram). */
typedef struct {
    PyObject *bounds;
    double *values;
} Bounds;

typedef struct {
    PyObject_HEAD
    PyObject *pipeline, *slow, *other_error;  /* semconv.OTHER_ERROR */
    PyObject *per_call;  /* _Call -> (its (operation, provider, model) key, its Price, None or s_unlooked) */
    PyObject *book;      /* the PriceBook per_call's prices are from: a reload brings a new one */
    Bounds bounds[BOUNDS_CACHED];
    PyTypeObject *series_t, *histogram_t, *call_t, *price_t, *unit_price_t;
    Py_ssize_t series[S_N], histogram[H_N], call[C_N], price[P_N], unit_price[UP_N];
    long long max_tokens;  /* fields.MAX_TOKENS, MAX_COST_USD, MAX_DURATION_MS */
    double max_cost, max_ms;
    int format;
} HotPath;

/* The labels whose values the hot path checks with the LabelLimiter. */
enum { SEEN_ACTION, SEEN_SYMBOL, SEEN_VALIDATION_RESULT, SEEN_ERROR_TYPE, SEEN_N };
static PyObject *s_action, *s_symbol, *s_validation_result, *s_error_type;
static PyObject **SEEN_LABELS[SEEN_N] = {&s_action, &s_symbol, &s_validation_result, &s_error_type};

/* What one buffer's lines use, read from the pipeline when the buffer arrives. */
typedef struct {
    PyObject *pending, *pending_clock, *pending_born, *answered, *answered_clock, *answered_born, *answered_popitem;
    Py_ssize_t pending_max, answered_max;
    PyObject *calls, *labels, *prices, *seen, *unpriced, *usage_missing;
    PyObject *seen_sets[SEEN_N];  /* limiter._seen[label], as first needed */
} Feed;

/* Interned strings. */
static PyObject *s_input, *s_output, *s_cache_read, *s_cache_write, *s_reasoning, *s_provider_label,
    *s_operation_label, *s_model_label,
    *s_empty, *s_upper, *s_one, *s_minus_one;
static PyObject *s_unlooked;  /* a call's price not looked up yet */

/* The offsets of the slots `names` of `type`. */
static int offsets(PyTypeObject *type, const char **names, int n, Py_ssize_t *out) {
    for (int i = 0; i < n; i++) {
        PyObject *d = PyObject_GetAttrString((PyObject *)type, names[i]);
        if (d == NULL) return -1;
        int ok = Py_IS_TYPE(d, &PyMemberDescr_Type) && ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
        if (ok) out[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, names[i]);
            return -1;
        }
    }
    return 0;
}

static void HotPath_dealloc(HotPath *self) {
    for (int i = 0; i < BOUNDS_CACHED; i++) {
        Py_XDECREF(self->bounds[i].bounds);
        PyMem_Free(self->bounds[i].values);
    }
    Py_XDECREF(self->per_call);
    Py_XDECREF(self->book);
    Py_XDECREF(self->pipeline); Py_XDECREF(self->slow); Py_XDECREF(self->other_error);
    Py_XDECREF(self->series_t); Py_XDECREF(self->histogram_t); Py_XDECREF(self->call_t);
    Py_XDECREF(self->price_t); Py_XDECREF(self->unit_price_t);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int HotPath_init(HotPath *self, PyObject *args, PyObject *kwds) {
    static char *kw[] = {"pipeline", "format", "slow", "series", "histogram", "call", "price", "unit_price",
                         "max_tokens", "max_cost", "max_ms", "other_error", NULL};
    PyObject *pipeline, *slow, *other_error;
    const char *format;
    PyTypeObject *t[5];
    long long max_tokens;
    double max_cost, max_ms;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OsOO!O!O!O!O!LddU", kw, &pipeline, &format, &slow, &PyType_Type,
                                     &t[0], &PyType_Type, &t[1], &PyType_Type, &t[2], &PyType_Type, &t[3],
                                     &PyType_Type, &t[4], &max_tokens, &max_cost, &max_ms, &other_error))
        return -1;
    if (strcmp(format, "completion") == 0) {
        self->format = COMPLETION_FORMAT;
    } else if (strcmp(format, "event") == 0) {
        self->format = EVENT_FORMAT;
    } else {
        PyErr_Format(PyExc_ValueError, "hotpath: no C path for the %s format", format);
        return -1;
    }
    if (offsets(t[0], SERIES_SLOTS, S_N, self->series) || offsets(t[1], HISTOGRAM_SLOTS, H_N, self->histogram) ||
        offsets(t[2], CALL_SLOTS, C_N, self->call) || offsets(t[3], PRICE_SLOTS, P_N, self->price) ||
        offsets(t[4], UNIT_PRICE_SLOTS, UP_N, self->unit_price))
        return -1;
    Py_XSETREF(self->per_call, PyDict_New());
    if (self->per_call == NULL) return -1;
    Py_INCREF(pipeline);
    Py_XSETREF(self->pipeline, pipeline);
    Py_INCREF(slow);
    Py_XSETREF(self->slow, slow);
    Py_INCREF(other_error);
    Py_XSETREF(self->other_error, other_error);
    PyTypeObject **types[] = {&self->series_t, &self->histogram_t, &self->call_t, &self->price_t,
                              &self->unit_price_t};
    for (int i = 0; i < 5; i++) {
        Py_INCREF(t[i]);
        Py_XSETREF(*types[i], t[i]);
    }
    self->max_tokens = max_tokens;
    self->max_cost = max_cost;
    self->max_ms = max_ms;
    return 0;
}

/* -- small helpers ------------------------------------------------------------------------- */

static void feed_clear(Feed *f) {
    Py_CLEAR(f->pending); Py_CLEAR(f->pending_clock); Py_CLEAR(f->pending_born);
    Py_CLEAR(f->answered); Py_CLEAR(f->answered_clock); Py_CLEAR(f->answered_born);
    Py_CLEAR(f->answered_popitem); Py_CLEAR(f->calls); Py_CLEAR(f->labels); Py_CLEAR(f->prices);
    Py_CLEAR(f->seen); Py_CLEAR(f->unpriced);
    Py_CLEAR(f->usage_missing);
    for (int i = 0; i < SEEN_N; i++) Py_CLEAR(f->seen_sets[i]);
}

static PyObject *attr_path(PyObject *obj, const char *first, const char *second) {
    PyObject *mid = PyObject_GetAttrString(obj, first);
    if (mid == NULL || second == NULL) return mid;
    PyObject *out = PyObject_GetAttrString(mid, second);
    Py_DECREF(mid);
    return out;
}

static Py_ssize_t attr_size(PyObject *obj, const char *name) {
    PyObject *v = PyObject_GetAttrString(obj, name);
    if (v == NULL) return -1;
    Py_ssize_t n = PyLong_AsSsize_t(v);
    Py_DECREF(v);
    return n;
}

/* A BoundedTable's items, bound and clock; on_drop must be None when `quiet` (dropping the oldest
   entry is then silent and can be done here). Returns 1 if usable, 0 if not, -1 on error. */
static int table(PyObject *pipeline, const char *name, int quiet, PyObject **items, PyObject **clock,
                 Py_ssize_t *max) {
    PyObject *t = PyObject_GetAttrString(pipeline, name);
    if (t == NULL) return -1;
    int usable = 1;
    if (quiet) {
        PyObject *on_drop = PyObject_GetAttrString(t, "on_drop");
        if (on_drop == NULL) { Py_DECREF(t); return -1; }
        usable = on_drop == Py_None;
        Py_DECREF(on_drop);
    }
    *items = PyObject_GetAttrString(t, "_items");
    *clock = PyObject_GetAttrString(t, "_clock");
    *max = attr_size(t, "max_size");
    Py_DECREF(t);
    if (*items == NULL || *clock == NULL || *max < 0) return -1;
    return usable && PyDict_Check(*items);
}

static int feed_load(HotPath *self, Feed *f) {
    memset(f, 0, sizeof(*f));
    int pending_ok = table(self->pipeline, "pending", 0, &f->pending, &f->pending_clock, &f->pending_max);
    int answered_ok = table(self->pipeline, "answered", 1, &f->answered, &f->answered_clock, &f->answered_max);
    if (pending_ok < 0 || answered_ok < 0) return -1;
    if (!pending_ok || !answered_ok) {
        PyErr_SetString(PyExc_RuntimeError, "hotpath: the pipeline's tables are not as expected");
        return -1;
    }
    f->answered_popitem = PyObject_GetAttrString(f->answered, "popitem");
    f->calls = PyObject_GetAttrString(self->pipeline, "_calls");
    f->labels = PyObject_GetAttrString(self->pipeline, "_labels");
    PyObject *book = PyObject_GetAttrString(self->pipeline, "prices");
    if (book == NULL) return -1;
    if (book != self->book) {  /* new prices (a reload): what was priced with the old ones goes */
        PyDict_Clear(self->per_call);
        Py_XSETREF(self->book, book);
    } else {
        Py_DECREF(book);
    }
    f->prices = PyObject_GetAttrString(self->book, "_cache");
    f->seen = attr_path(self->pipeline, "limit", "_seen");
    f->unpriced = attr_path(self->pipeline, "health", "unpriced");
    f->usage_missing = attr_path(self->pipeline, "health", "usage_missing");
    if (!f->answered_popitem || !f->calls || !f->labels || !f->prices || !f->seen || !f->unpriced ||
        !f->usage_missing)
        return -1;
    if (!PyDict_CheckExact(f->calls) || !PyDict_CheckExact(f->prices) || !PyDict_CheckExact(f->seen) ||
        !PyDict_CheckExact(f->unpriced) || !PyDict_CheckExact(f->usage_missing)) {
        PyErr_SetString(PyExc_RuntimeError, "hotpath: the pipeline's caches are not as expected");
        return -1;
    }
    return 0;
}

/* Replace a slot's value with `value` (a new reference, stolen). */
static void set_slot(PyObject *obj, Py_ssize_t offset, PyObject *value) {
    PyObject *old = SLOT(obj, offset);
    SLOT(obj, offset) = value;
    Py_XDECREF(old);
}

/* slot += delta (Python numbers). */
static int add_slot(PyObject *obj, Py_ssize_t offset, PyObject *delta) {
    PyObject *sum = PyNumber_Add(SLOT(obj, offset), delta);
    if (sum == NULL) return -1;
    set_slot(obj, offset, sum);
    return 0;
}

/* dict[key] = dict.get(key, 0) + delta (a total, or SourcePipeline._count's counts). */
static int add_item(PyObject *dict, PyObject *key, PyObject *delta) {
    PyObject *value = PyDict_GetItemWithError(dict, key);
    if (value == NULL && PyErr_Occurred()) return -1;
    PyObject *sum = value ? PyNumber_Add(value, delta) : (Py_INCREF(delta), delta);
    if (sum == NULL) return -1;
    int r = PyDict_SetItem(dict, key, sum);
    Py_DECREF(sum);
    return r;
}

static const double *bounds_of(HotPath *self, PyObject *bounds);

/* A histogram this path can observe into: its slots of the expected types. */
static int histogram_ok(HotPath *self, PyObject *h) {
    if (!Py_IS_TYPE(h, self->histogram_t)) return 0;
    PyObject *bounds = SLOT(h, self->histogram[H_BOUNDS]), *counts = SLOT(h, self->histogram[H_COUNTS]);
    PyObject *sum = SLOT(h, self->histogram[H_SUM]);
    return bounds && counts && sum && PyTuple_CheckExact(bounds) && PyList_CheckExact(counts) &&
           PyFloat_CheckExact(sum) && PyList_GET_SIZE(counts) == PyTuple_GET_SIZE(bounds) + 1 &&
           bounds_of(self, bounds) != NULL;
}

/* The bounds as doubles, cached by tuple; NULL (no error) for a tuple that is not all floats. */
static const double *bounds_of(HotPath *self, PyObject *bounds) {
    Bounds *free_slot = NULL;
    for (int i = 0; i < BOUNDS_CACHED; i++) {
        if (self->bounds[i].bounds == bounds) return self->bounds[i].values;
        if (self->bounds[i].bounds == NULL && free_slot == NULL) free_slot = &self->bounds[i];
    }
    if (free_slot == NULL) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(bounds);
    double *values = PyMem_Malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (values == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *bound = PyTuple_GET_ITEM(bounds, i);
        if (!PyFloat_CheckExact(bound)) {
            PyMem_Free(values);
            return NULL;
        }
        values[i] = PyFloat_AS_DOUBLE(bound);
    }
    Py_INCREF(bounds);
    free_slot->bounds = bounds;
    free_slot->values = values;
    return values;
}

/* Histogram.observe: the count of the first bucket whose bound is >= value, and the sum. */
static int observe(HotPath *self, PyObject *h, double value) {
    PyObject *bounds = SLOT(h, self->histogram[H_BOUNDS]), *counts = SLOT(h, self->histogram[H_COUNTS]);
    const double *values = bounds_of(self, bounds);
    if (values == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "hotpath: histogram bounds not as checked");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(bounds), i = 0;
    while (i < n && values[i] < value) i++;
    PyObject *count = PyNumber_Add(PyList_GET_ITEM(counts, i), s_one);
    if (count == NULL) return -1;
    PyList_SetItem(counts, i, count);
    PyObject *sum = PyFloat_FromDouble(PyFloat_AS_DOUBLE(SLOT(h, self->histogram[H_SUM])) + value);
    if (sum == NULL) return -1;
    set_slot(h, self->histogram[H_SUM], sum);
    return 0;
}

/* Whether LabelLimiter gives the value unchanged without learning it: 1 if it has seen it. The
   label's set is looked up once a buffer (a limiter keeps each label's set for good). */
static int seen(Feed *f, int label, PyObject *value) {
    PyObject **values = &f->seen_sets[label];
    if (*values == NULL) {
        PyObject *found = PyDict_GetItemWithError(f->seen, *SEEN_LABELS[label]);
        if (found == NULL) return PyErr_Occurred() ? -1 : 0;
        if (!PySet_CheckExact(found)) return 0;
        Py_INCREF(found);
        *values = found;
    }
    return PySet_Contains(*values, value);
}

/* The _Call stored under `key` in a BoundedTable's items (borrowed, in *call): 1 if found, 0 if
   not, 2 if found but not as expected, -1 on error. */
static int entry_call(HotPath *self, PyObject *items, PyObject *key, PyObject **call) {
    PyObject *entry = PyDict_GetItemWithError(items, key);
    if (entry == NULL) return PyErr_Occurred() ? -1 : 0;
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2) return 2;
    *call = PyTuple_GET_ITEM(entry, 1);
    return Py_IS_TYPE(*call, self->call_t) ? 1 : 2;
}

/* BoundedTable.put of a key it does not hold. The clock is read once a buffer: the lines of one
   read are born together. */
static int put(PyObject *items, PyObject *clock, PyObject **born, PyObject *key, PyObject *call) {
    if (*born == NULL && (*born = PyObject_CallNoArgs(clock)) == NULL) return -1;
    PyObject *entry = PyTuple_Pack(2, *born, call);
    if (entry == NULL) return -1;
    int r = PyObject_SetItem(items, key, entry);
    Py_DECREF(entry);
    return r;
}

/* -- reading a line ----------------------------------------------------------------------------
   A line's values, read as formats.completion.parse or formats.event.parse reads them. A value
   the parser would reject, or read in a way not repeated here (a decimal string, a float token
   count, an error object...), leaves the whole line to Python. */

/* A call's tokens as fields.token_usage gives them. */
typedef struct {
    long long in, out, cache_read, cache_write, reasoning;
} Tokens;

typedef struct {
    int type;
    /* new references, NULL where the line has none */
    PyObject *request_id, *model, *provider, *operation, *action, *symbol, *validation_result, *error_type,
        *status;
    double duration_ms, ttfc_ms, cost;
    int success, has_ttfc, has_cost;
    Tokens t;
} Line;

static void line_clear(Line *line) {
    Py_CLEAR(line->request_id); Py_CLEAR(line->model); Py_CLEAR(line->provider); Py_CLEAR(line->operation);
    Py_CLEAR(line->action); Py_CLEAR(line->symbol); Py_CLEAR(line->validation_result);
    Py_CLEAR(line->error_type); Py_CLEAR(line->status);
}

static int absent(const JsonValue *v) { return v->kind == J_ABSENT || v->kind == J_NULL; }

/* fields.text: 1 with a new str, or NULL where the line has none; 0 for a value left to Python
   (not a string, empty, escaped), -1 on error. */
static int text(const JsonValue *v, PyObject **out) {
    if (absent(v)) return 1;
    if (v->kind != J_STRING || v->flags || v->n == 0) return 0;
    return (*out = PyUnicode_DecodeUTF8(v->p, v->n, NULL)) != NULL ? 1 : -1;
}

/* fields.number, at most `max`: 1 with it (*present 0 where the line has none), 0 for a value
   left to Python, -1 on error. */
static int number(const JsonValue *v, double max, double *out, int *present) {
    *present = 0;
    if (absent(v)) return 1;
    if (v->kind != J_NUMBER || (v->flags & J_NEGATIVE)) return 0;
    if (json_double(v, out) < 0) return -1;
    *present = 1;
    return *out <= max;
}

/* fields.count of an integer: 1 with it (0 where the line has none), 0 for a value left to Python. */
static int count(HotPath *self, const JsonValue *v, long long *out, int *present) {
    *out = 0;
    *present = !absent(v);
    return !*present || json_count(v, self->max_tokens, out);
}

/* fields.error_class leaves a name alone when it matches ^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$; 1 if this
   one does (a newline, which `$` lets through at the end, is escaped in JSON: left to Python). */
static int error_class_kept(const char *name, Py_ssize_t n) {
    const unsigned char *c = (const unsigned char *)name;
    if (n < 1 || n > 64 || !(c[0] == '_' || ((c[0] | 0x20) >= 'a' && (c[0] | 0x20) <= 'z'))) return 0;
    for (Py_ssize_t i = 1; i < n; i++) {
        unsigned char ch = c[i], low = ch | 0x20;
        if (!((low >= 'a' && low <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == ':' ||
              ch == '-'))
            return 0;
    }
    return 1;
}

/* A failed call's error class and HTTP status label: fields.error_class(error_type or fallback)
   and fields.http_status(status_code), the fallback being the completion format's error (not an
   object: the caller leaves those) or the event format's error_message. 1 with them, 0 if left to
   Python, -1 on error. Left: an error_type or fallback Python would read differently (escaped,
   or falsy but not null), a status code other than absent, null or an integer. */
static int failure(HotPath *self, const JsonValue *name, const JsonValue *fallback, const JsonValue *code,
                   Line *line) {
    const JsonValue *by = name;
    if (absent(name))
        by = fallback;
    else if (name->kind != J_STRING || name->n == 0)
        return 0;  /* truthy or not, as Python sees it: left to it */
    if (by->kind == J_STRING && by->flags) return 0;  /* escapes could spell a class */
    if (!absent(code)) {
        long long status;
        if (!json_count(code, 599, &status) || status < 100) return 0;
        if ((line->status = PyUnicode_FromFormat("%lld", status)) == NULL) return -1;
    }
    if (by->kind == J_STRING && error_class_kept(by->p, by->n))
        line->error_type = PyUnicode_DecodeUTF8(by->p, by->n, NULL);
    else  /* not a name fit for a label (a message, a number, none): the class is _OTHER */
        line->error_type = Py_NewRef(self->other_error);
    return line->error_type != NULL ? 1 : -1;
}

/* The token counts of a details object (prompt_tokens_details, completion_tokens_details): 1 with
   its `key` (0 where it has none), 0 if left to Python. */
static int details(HotPath *self, const JsonValue *v, int key, long long *out) {
    JsonValue d[D_N];
    int present;
    *out = 0;
    if (absent(v)) return 1;
    return v->kind == J_OBJECT && json_object(v->p, v->p + v->n, &DETAILS_KEYS, d) &&
           count(self, &d[key], out, &present);
}

/* fields.token_usage of a usage object's values (u[U_*]): 1 with the counts, 0 for a usage left to
   Python (a total alone: unsplit tokens). */
static int usage_values(HotPath *self, const JsonValue *u, Tokens *t) {
    long long v[U_PROMPT_DETAILS], cached;
    int present[U_PROMPT_DETAILS];
    for (int i = 0; i < U_PROMPT_DETAILS; i++)
        if (!count(self, &u[i], &v[i], &present[i])) return 0;
    t->cache_read = v[U_CACHE_READ];
    t->cache_write = v[U_CACHE_WRITE];
    if (!details(self, &u[U_PROMPT_DETAILS], D_CACHED, &cached) ||
        !details(self, &u[U_COMPLETION_DETAILS], D_REASONING, &t->reasoning))
        return 0;
    if (!t->cache_read) t->cache_read = cached;
    if (!present[U_PROMPT] && !present[U_COMPLETION] && !present[U_INPUT] && !present[U_OUTPUT]) {
        /* no split counts: the total is unsplit, the cache kinds are still counted (Python) */
        return !v[U_TOTAL] && !t->cache_read && !t->cache_write && !t->reasoning;
    }
    t->in = present[U_PROMPT] ? v[U_PROMPT] : v[U_INPUT] + t->cache_read + t->cache_write;
    t->out = u[U_COMPLETION].kind == J_ABSENT ? v[U_OUTPUT] : v[U_COMPLETION];
    return 1;
}

/* The same of a usage object: 0 also for one that is not an object; no usage gives zeros. */
static int usage_of(HotPath *self, const JsonValue *usage, Tokens *t) {
    JsonValue u[U_N];
    if (absent(usage)) return 1;
    return usage->kind == J_OBJECT && json_object(usage->p, usage->p + usage->n, &USAGE_KEYS, u) &&
           usage_values(self, u, t);
}

/* A word and its length, known at compile time. */
typedef struct {
    const char *text;
    Py_ssize_t n;
} Word;
#define WORD(s) {s, sizeof(s) - 1}

static int is_word(const JsonValue *v, const Word *word) {
    return v->n == word->n && memcmp(v->p, word->text, (size_t)word->n) == 0;
}

static const Word EVENT_TYPES[] = {WORD("completion_request"), WORD("completion_response"), WORD("trading_decision")};

/* A completion format line's values (formats.completion.parse): 1 with them in *line (cleared by
   line_clear), 0 if it is left to Python, -1 on error. */
static int read_line(HotPath *self, const char *p, Py_ssize_t n, Line *line) {
    JsonValue v[L_N];
    int r, present;
    memset(line, 0, sizeof(*line));
    if (!json_object(p, p + n, &LINE_KEYS, v)) return 0;
    const JsonValue *type = &v[L_EVENT_TYPE];
    if (type->kind != J_STRING || type->flags) return 0;
    line->type = REQUEST;
    while (line->type <= DECISION && !is_word(type, &EVENT_TYPES[line->type])) line->type++;
    if (line->type > DECISION) return 0;  /* performance_metrics and the like: Python ignores them */
    if ((r = text(&v[L_REQUEST_ID], &line->request_id)) != 1 || (r = text(&v[L_MODEL], &line->model)) != 1)
        return r;
    if (line->type == DECISION) {
        if ((r = text(&v[L_ACTION], &line->action)) != 1 || (r = text(&v[L_SYMBOL], &line->symbol)) != 1 ||
            (r = text(&v[L_VALIDATION_RESULT], &line->validation_result)) != 1)
            return r;
        return line->action != NULL;  /* required: Python says so */
    }
    if ((r = text(&v[L_PROVIDER], &line->provider)) != 1 || (r = text(&v[L_OPERATION], &line->operation)) != 1)
        return r;
    if (line->type == REQUEST) return line->request_id != NULL && line->model != NULL;
    if ((r = number(&v[L_RESPONSE_TIME_MS], self->max_ms, &line->duration_ms, &present)) != 1) return r;
    if (!present) return 0;  /* Python rejects it */
    if (v[L_SUCCESS].kind != J_ABSENT && v[L_SUCCESS].kind != J_TRUE && v[L_SUCCESS].kind != J_FALSE) return 0;
    line->success = v[L_SUCCESS].kind != J_FALSE;
    if (!line->success) {
        /* completion._failure reads an error object for the class (without an error_type) and
           the status (without a status_code); any other error stands for its class itself */
        const JsonValue *error = &v[L_ERROR];
        if (error->kind == J_OBJECT && (absent(&v[L_ERROR_TYPE]) || v[L_STATUS_CODE].kind == J_ABSENT)) return 0;
        if ((r = failure(self, &v[L_ERROR_TYPE], error, &v[L_STATUS_CODE], line)) != 1) return r;
    }
    const JsonValue *usage = &v[L_TOKEN_USAGE];
    if (usage->kind == J_ABSENT)
        usage = &v[L_USAGE];
    else if (usage->kind != J_OBJECT)
        return 0;  /* token_usage null: Python reads it as no usage, here it is left to Python */
    if (!usage_of(self, usage, &line->t)) return 0;
    if ((r = number(&v[L_TTFC_MS], self->max_ms, &line->ttfc_ms, &line->has_ttfc)) != 1) return r;
    return number(&v[L_COST], self->max_cost, &line->cost, &line->has_cost);
}

static const Word SUCCESS_WORDS[] = {WORD("success"), WORD("ok"), WORD("succeeded"), WORD("completed")};

static char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c; }

/* Whether an event's status (absent, null, or a string of ASCII without escapes) says success, as
   `status.lower() in formats.event._OK` does. */
static int succeeded(const JsonValue *status) {
    if (absent(status)) return 1;  /* "success" */
    for (size_t w = 0; w < sizeof(SUCCESS_WORDS) / sizeof(SUCCESS_WORDS[0]); w++) {
        const Word *word = &SUCCESS_WORDS[w];
        if (status->n != word->n) continue;
        Py_ssize_t i = 0;
        while (i < status->n && ascii_lower(status->p[i]) == word->text[i]) i++;
        if (i == status->n) return 1;
    }
    return 0;
}

/* An event format line's values (formats.event.parse): 1 with them in *line, 0 if it is left to
   Python, -1 on error. */
static int read_event_line(HotPath *self, const char *p, Py_ssize_t n, Line *line) {
    JsonValue v[E_N];
    int r, present;
    memset(line, 0, sizeof(*line));
    line->type = CALL;
    if (!json_object(p, p + n, &EVENT_KEYS, v)) return 0;
    if ((r = text(&v[E_MODEL], &line->model)) != 1) return r;
    if (line->model == NULL) return 0;  /* required: Python rejects the line */
    if ((r = text(&v[E_PROVIDER], &line->provider)) != 1 || (r = text(&v[E_OPERATION], &line->operation)) != 1)
        return r;
    if ((r = number(&v[E_LATENCY_MS], self->max_ms, &line->duration_ms, &present)) != 1) return r;
    if (!present) return 0;  /* Python rejects it */
    const JsonValue *status = &v[E_STATUS];
    if (!absent(status) && (status->kind != J_STRING || status->flags || status->n == 0)) return 0;
    for (Py_ssize_t i = 0; status->kind == J_STRING && i < status->n; i++)
        if ((unsigned char)status->p[i] & 0x80) return 0;  /* str.lower() maps some other letters to ASCII */
    line->success = succeeded(status);
    if (!line->success && (r = failure(self, &v[E_ERROR_TYPE], &v[E_ERROR_MESSAGE], &v[E_STATUS_CODE], line)) != 1)
        return r;
    /* flat counts, else a usage object (formats.event._usage) */
    int flat = !absent(&v[U_PROMPT]) || !absent(&v[U_COMPLETION]) || !absent(&v[U_INPUT]) ||
               !absent(&v[U_OUTPUT]) || !absent(&v[U_TOTAL]) || v[E_USAGE].kind == J_ABSENT;
    if (!flat) {
        if (!usage_of(self, &v[E_USAGE], &line->t)) return 0;
    } else {
        int has;
        if (!usage_values(self, v, &line->t) || !count(self, &v[E_CACHED], &line->t.cache_read, &has) ||
            !count(self, &v[E_REASONING], &line->t.reasoning, &has))
            return 0;
        line->t.cache_write = 0;
    }
    return number(&v[E_COST], self->max_cost, &line->cost, &line->has_cost);
}

/* A line's values as its source's format reads them. */
static int read_format_line(HotPath *self, const char *p, Py_ssize_t n, Line *line) {
    return self->format == EVENT_FORMAT ? read_event_line(self, p, n, line) : read_line(self, p, n, line);
}

/* -- the events ------------------------------------------------------------------------------
   Each returns 1 when it recorded the line, 0 when the line is left to the Python path (nothing
   changed), -1 on error. */

static PyObject *or_none(PyObject *value) { return value != NULL ? value : Py_None; }

/* The call SourcePipeline._series keeps for the line's (model, provider, operation): 1 with it
   (borrowed), 0 if it has none (a first sighting, a folded series: Python resolves it), -1 on error. */
static int known_call(HotPath *self, Feed *f, const Line *line, PyObject **call) {
    PyObject *key = PyTuple_Pack(4, f->labels, line->model, or_none(line->provider), or_none(line->operation));
    if (key == NULL) return -1;
    *call = PyDict_GetItemWithError(f->calls, key);
    Py_DECREF(key);
    if (*call == NULL) return PyErr_Occurred() ? -1 : 0;
    return Py_IS_TYPE(*call, self->call_t) && Py_IS_TYPE(SLOT(*call, self->call[C_SERIES]), self->series_t);
}

static int request(HotPath *self, Feed *f, const Line *line) {
    PyObject *rid = line->request_id, *call;
    int r = known_call(self, f, line, &call);
    if (r != 1) return r;
    PyObject *series = SLOT(call, self->call[C_SERIES]);
    int known = PyDict_Contains(f->pending, rid);
    if (known != 0) return known < 0 ? -1 : 0;  /* an earlier request of that id is dropped: Python */
    if (PyDict_GET_SIZE(f->pending) >= f->pending_max) return 0;  /* the oldest is orphaned: Python */
    Py_INCREF(call);
    r = add_slot(series, self->series[S_IN_FLIGHT], s_one);
    if (r == 0) r = put(f->pending, f->pending_clock, &f->pending_born, rid, call);
    Py_DECREF(call);
    return r < 0 ? -1 : 1;
}

/* PriceBook's price for a call's (provider, requested model): borrowed, None for no known price;
   NULL (no error) if it was never looked up. */
static PyObject *book_price(HotPath *self, Feed *f, PyObject *call, PyObject *provider) {
    PyObject *lookup = PyTuple_Pack(2, provider, SLOT(call, self->call[C_MODEL]));
    if (lookup == NULL) return NULL;
    PyObject *found = PyDict_GetItemWithError(f->prices, lookup);
    Py_DECREF(lookup);
    return found;
}

/* What pricing and the per-series counts need of a call, cached by call: its series'
   (operation, provider, model), and with `need_price` PriceBook's price (None for no known
   price). 1 with both (borrowed; the price is s_unlooked unless needed), 0 if the price is needed and
   was never looked up (Python looks it up), -1 on error. */
static int call_info(HotPath *self, Feed *f, PyObject *call, PyObject *series, int need_price, PyObject **key,
                     PyObject **price) {
    PyObject *info = PyDict_GetItemWithError(self->per_call, call);
    if (info == NULL) {
        if (PyErr_Occurred()) return -1;
        PyObject *labels = SLOT(series, self->series[S_LABELS]), *names[3] = {s_operation_label, s_provider_label,
                                                                               s_model_label};
        PyObject *values[3];
        for (int i = 0; i < 3; i++)
            if ((values[i] = PyDict_GetItemWithError(labels, names[i])) == NULL) return PyErr_Occurred() ? -1 : 0;
        PyObject *counts_key = PyTuple_Pack(3, values[0], values[1], values[2]);
        if (counts_key == NULL) return -1;
        info = PyTuple_Pack(2, counts_key, s_unlooked);
        Py_DECREF(counts_key);
        /* Folded series get a new call each time: past the cap, nothing more is kept. */
        if (info == NULL || PyDict_GET_SIZE(self->per_call) >= CALLS_CACHED ||
            PyDict_SetItem(self->per_call, call, info) < 0) {
            Py_XDECREF(info);
            return PyErr_Occurred() ? -1 : 0;  /* not kept: the Python path records it */
        }
        Py_DECREF(info);  /* the borrowed references below live as long as the call's entry */
    }
    if (need_price && PyTuple_GET_ITEM(info, 1) == s_unlooked) {
        PyObject *counts_key = PyTuple_GET_ITEM(info, 0);
        PyObject *found = book_price(self, f, call, PyTuple_GET_ITEM(counts_key, 1));
        if (found == NULL) return PyErr_Occurred() ? -1 : 0;
        PyObject *priced = PyTuple_Pack(2, counts_key, found);
        int r = priced ? PyDict_SetItem(self->per_call, call, priced) : -1;
        Py_XDECREF(priced);
        if (r < 0) return -1;
        info = priced;  /* held by per_call now */
    }
    *key = PyTuple_GET_ITEM(info, 0);
    *price = PyTuple_GET_ITEM(info, 1);
    return 1;
}

/* Price.cost, in its order of operations: 1 with the cost, 0 for a price with tiers (left to
   Python). */
static int cost_of(HotPath *self, PyObject *price, const Tokens *t, double *cost) {
    if (!Py_IS_TYPE(price, self->price_t)) return 0;
    double base[P_N];
    for (int i = 0; i < P_N; i++) {
        PyObject *unit = SLOT(price, self->price[i]);
        if (!Py_IS_TYPE(unit, self->unit_price_t)) return 0;
        PyObject *b = SLOT(unit, self->unit_price[UP_BASE]), *tiers = SLOT(unit, self->unit_price[UP_TIERS]);
        if (!PyFloat_CheckExact(b) || !PyTuple_CheckExact(tiers) || PyTuple_GET_SIZE(tiers)) return 0;
        base[i] = PyFloat_AS_DOUBLE(b);
    }
    long long uncached = t->in - t->cache_read - t->cache_write;
    *cost = (double)(uncached > 0 ? uncached : 0) * base[P_INPUT] + (double)t->cache_read * base[P_CACHE_READ] +
            (double)t->cache_write * base[P_CACHE_WRITE] + (double)t->out * base[P_OUTPUT];
    return 1;
}

/* tokens[kind] += count (add_tokens), for a count that is not 0. */
static int add_tokens(PyObject *tokens, PyObject *kind, long long count) {
    if (!count) return 0;
    PyObject *delta = PyLong_FromLongLong(count);
    if (delta == NULL) return -1;
    int r = add_item(tokens, kind, delta);
    Py_DECREF(delta);
    return r;
}

/* A call to the provider on its series, as SourcePipeline._provider_call and _count_request record
   it; with `rid`, the answer to the pending request `call` came from (_completion's join). */
static int provider_call(HotPath *self, Feed *f, const Line *line, PyObject *call, PyObject *rid) {
    PyObject *error_type = line->error_type, *fkey = NULL;
    const Tokens *t = &line->t;
    int has_usage = t->in > 0 || t->out > 0, ok = line->success, r = 0;
    PyObject *series = SLOT(call, self->call[C_SERIES]);
    if (!Py_IS_TYPE(series, self->series_t) || !PyDict_CheckExact(SLOT(series, self->series[S_LABELS]))) goto done;
    PyObject *usage_in = SLOT(series, self->series[S_USAGE_INPUT]);
    PyObject *usage_out = SLOT(series, self->series[S_USAGE_OUTPUT]);
    PyObject *tokens = SLOT(series, self->series[S_TOKENS]), *total = SLOT(series, self->series[S_COST]);
    if (!histogram_ok(self, usage_in) || !histogram_ok(self, usage_out) || !PyDict_CheckExact(tokens) ||
        !PyFloat_CheckExact(total))
        goto done;
    PyObject *hist, *failed_calls = NULL;
    if (ok) {
        hist = SLOT(series, self->series[S_DURATION]);
    } else {  /* an error class and status this series has seen (SourcePipeline._child) */
        PyObject *errors = SLOT(series, self->series[S_ERRORS]);
        failed_calls = SLOT(series, self->series[S_FAILED_CALLS]);
        if (!PyDict_CheckExact(errors) || !PyDict_CheckExact(failed_calls) ||
            (r = seen(f, SEEN_ERROR_TYPE, error_type)) != 1)
            goto done;
        r = -1;
        if ((hist = PyDict_GetItemWithError(errors, error_type)) == NULL) {
            r = PyErr_Occurred() ? -1 : 0;
            goto done;
        }
        if ((fkey = PyTuple_Pack(2, error_type, line->status != NULL ? line->status : s_empty)) == NULL) goto done;
        if ((r = PyDict_Contains(failed_calls, fkey)) != 1) goto done;
    }
    r = 0;
    if (!histogram_ok(self, hist)) goto done;
    PyObject *ttfc = NULL;
    if (line->has_ttfc) {
        ttfc = SLOT(series, self->series[S_TTFC]);
        if (!histogram_ok(self, ttfc)) goto done;  /* its first: Python */
    }
    PyObject *counts_key, *price;
    if ((r = call_info(self, f, call, series, !line->has_cost && has_usage, &counts_key, &price)) != 1) goto done;
    r = 0;
    double cost = 0.0;
    int priced = 0;  /* 1: add `cost`, 2: count as unpriced, 0: neither */
    if (line->has_cost) {
        cost = line->cost;
        priced = 1;
    } else if (has_usage) {
        priced = price == Py_None ? 2 : cost_of(self, price, t, &cost);
        if (!priced) goto done;
    }
    int known = 0;
    if (rid != NULL && (known = PyDict_Contains(f->answered, rid)) < 0) {
        r = -1;
        goto done;
    }

    /* Recorded from here on, as SourcePipeline._completion does. */
    r = -1;
    if (rid != NULL) {
        Py_INCREF(rid);
        int failed = PyObject_DelItem(f->pending, rid) < 0 ||
                     add_slot(series, self->series[S_IN_FLIGHT], s_minus_one) < 0 ||
                     (known && PyObject_DelItem(f->answered, rid) < 0) ||
                     put(f->answered, f->answered_clock, &f->answered_born, rid, call) < 0;
        Py_DECREF(rid);
        if (failed) goto done;
        while (PyDict_GET_SIZE(f->answered) > f->answered_max) {
            PyObject *dropped = PyObject_CallOneArg(f->answered_popitem, Py_False);
            if (dropped == NULL) goto done;
            Py_DECREF(dropped);
        }
    }
    if (priced == 1) {
        PyObject *sum = PyFloat_FromDouble(PyFloat_AS_DOUBLE(total) + cost);
        if (sum == NULL) goto done;
        set_slot(series, self->series[S_COST], sum);
    } else if (priced == 2 && add_item(f->unpriced, counts_key, s_one) < 0) {
        goto done;
    }
    if (observe(self, hist, line->duration_ms / 1000.0) < 0) goto done;
    if (ok) {
        set_slot(series, self->series[S_CONSECUTIVE_FAILURES], PyLong_FromLong(0));
    } else if (add_slot(series, self->series[S_CONSECUTIVE_FAILURES], s_one) < 0 ||
               add_item(failed_calls, fkey, s_one) < 0) {
        goto done;
    }
    if (has_usage) {
        if (observe(self, usage_in, (double)t->in) < 0 || observe(self, usage_out, (double)t->out) < 0) goto done;
    } else if (ok && add_item(f->usage_missing, counts_key, s_one) < 0) {
        goto done;
    }
    /* add_tokens: adding 0 leaves a total as it is */
    if (add_tokens(tokens, s_input, t->in) < 0 || add_tokens(tokens, s_output, t->out) < 0 ||
        add_tokens(tokens, s_cache_read, t->cache_read) < 0 || add_tokens(tokens, s_cache_write, t->cache_write) < 0 ||
        add_tokens(tokens, s_reasoning, t->reasoning) < 0)
        goto done;
    if (ttfc != NULL && observe(self, ttfc, line->ttfc_ms / 1000.0) < 0) goto done;
    if (add_slot(series, self->series[ok ? S_REQUESTS_OK : S_REQUESTS_FAILED], s_one) < 0) goto done;
    r = 1;
done:
    Py_XDECREF(fkey);
    return r;
}

/* A completion response: the answer to its pending request, of the model requested. */
static int response(HotPath *self, Feed *f, const Line *line) {
    PyObject *rid = line->request_id, *call;
    if (rid == NULL) return 0;
    int r = entry_call(self, f->pending, rid, &call);
    if (r != 1) return r < 0 ? -1 : 0;
    Py_INCREF(call);  /* the join drops the pending table's reference */
    if (line->model == NULL ||
        (r = PyObject_RichCompareBool(line->model, SLOT(call, self->call[C_MODEL]), Py_EQ)) == 1)
        r = provider_call(self, f, line, call, rid);
    Py_DECREF(call);
    return r;
}

/* An event format line: one call, on the series its (model, provider, operation) already has. */
static int flat_call(HotPath *self, Feed *f, const Line *line) {
    PyObject *call;
    int r = known_call(self, f, line, &call);
    if (r != 1) return r;
    Py_INCREF(call);
    r = provider_call(self, f, line, call, NULL);
    Py_DECREF(call);
    return r;
}

/* str.upper(), without a new string for one already in upper case (the usual "LONG", "VALID"). */
static PyObject *upper(PyObject *text) {
    if (PyUnicode_IS_ASCII(text)) {
        const unsigned char *c = PyUnicode_1BYTE_DATA(text);
        Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0;
        while (i < n && !(c[i] >= 'a' && c[i] <= 'z')) i++;
        if (i == n) {
            Py_INCREF(text);
            return text;
        }
    }
    return PyObject_CallMethodNoArgs(text, s_upper);
}

static int decision(HotPath *self, Feed *f, const Line *line) {
    PyObject *rid = line->request_id;
    if (rid == NULL) return 0;
    PyObject *call;
    int found = entry_call(self, f->answered, rid, &call);
    if (found == 0) found = entry_call(self, f->pending, rid, &call);
    if (found != 1) return found < 0 ? -1 : 0;
    PyObject *series = SLOT(call, self->call[C_SERIES]);
    if (!Py_IS_TYPE(series, self->series_t)) return 0;
    PyObject *decisions = SLOT(series, self->series[S_DECISIONS]);
    if (!PyDict_CheckExact(decisions)) return 0;
    PyObject *symbol = line->symbol != NULL ? line->symbol : s_empty;
    PyObject *validation = line->validation_result != NULL ? line->validation_result : s_empty;
    PyObject *key = NULL, *upper_action = upper(line->action), *upper_validation = upper(validation);
    int r = -1;
    if (upper_action == NULL || upper_validation == NULL) goto done;
    r = 0;
    int ok;
    if ((ok = seen(f, SEEN_ACTION, upper_action)) != 1 || (ok = seen(f, SEEN_SYMBOL, symbol)) != 1 ||
        (ok = seen(f, SEEN_VALIDATION_RESULT, upper_validation)) != 1) {
        r = ok;
        goto done;
    }
    key = PyTuple_Pack(3, upper_action, symbol, upper_validation);
    if (key == NULL) { r = -1; goto done; }
    PyObject *entry = PyDict_GetItemWithError(decisions, key);
    if (entry == NULL) { r = PyErr_Occurred() ? -1 : 0; goto done; }  /* a new decision: Python */
    if (!PyList_CheckExact(entry) || PyList_GET_SIZE(entry) < 1) goto done;
    PyObject *count = PyNumber_Add(PyList_GET_ITEM(entry, 0), s_one);
    if (count == NULL) { r = -1; goto done; }
    PyList_SetItem(entry, 0, count);
    r = 1;
done:
    Py_XDECREF(key);
    Py_XDECREF(upper_action);
    Py_XDECREF(upper_validation);
    return r;
}

static int record(HotPath *self, Feed *f, const Line *line) {
    if (line->type == CALL) return flat_call(self, f, line);
    if (line->type == RESPONSE) return response(self, f, line);
    if (line->type == REQUEST) return request(self, f, line);
    return decision(self, f, line);
}

/* Whether a line is UTF-8, as the generic way requires: _json.c reads strings without decoding
   them. ASCII is checked a word at a time; other lines go through Python's own strict decoder.
   1 if so, 0 if not, -1 on error. */
static int utf8(const char *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
    for (; i + 32 <= n; i += 32) {  /* four words a test: the compiler turns it into vector code */
        uint64_t w[4];
        memcpy(w, p + i, 32);
        if ((w[0] | w[1] | w[2] | w[3]) & 0x8080808080808080ULL) break;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, p + i, 8);
        if (word & 0x8080808080808080ULL) break;
    }
    for (; i < n; i++)
        if ((unsigned char)p[i] & 0x80) break;
    if (i == n) return 1;
    PyObject *text = PyUnicode_DecodeUTF8(p, n, "strict");
    if (text != NULL) {
        Py_DECREF(text);
        return 1;
    }
    if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return -1;
    PyErr_Clear();
    return 0;
}

/* HotPath(buffer) -> the number of lines recorded here; the others went to `slow`. */
static PyObject *HotPath_call(HotPath *self, PyObject *args, PyObject *kwds) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    Feed f;
    Py_ssize_t recorded = 0;
    PyObject *result = NULL;
    if (feed_load(self, &f) < 0) goto done;
    const char *p = buf.buf, *end = p + buf.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        Py_ssize_t n = stop - p, m = n;
        if (m && p[m - 1] == '\r') m--;
        int taken = utf8(p, m);
        if (taken == 1) {
            Line line;
            taken = read_format_line(self, p, m, &line);
            if (taken == 1) taken = record(self, &f, &line);
            line_clear(&line);
        }
        if (taken < 0) goto done;
        if (taken) {
            recorded++;
        } else {
            PyObject *raw = PyBytes_FromStringAndSize(p, n);
            if (raw == NULL) goto done;
            PyObject *r = PyObject_CallOneArg(self->slow, raw);
            Py_DECREF(raw);
            if (r == NULL) goto done;
            Py_DECREF(r);
        }
        p = nl ? nl + 1 : end;
    }
    result = PyLong_FromSsize_t(recorded);
done:
    feed_clear(&f);
    PyBuffer_Release(&buf);
    return result;
}

/* HotPath.read(line) -> what the hot path reads from a line, as the fields of its event
   (formats.events), or None for a line it leaves to Python. For tests (test_hotpath_reader). */
static PyObject *HotPath_read(HotPath *self, PyObject *arg) {
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0) return NULL;
    Line line;
    memset(&line, 0, sizeof(line));
    PyObject *out = NULL;
    int r = utf8(buf.buf, buf.len);
    if (r == 1) r = read_format_line(self, buf.buf, buf.len, &line);
    if (r == 0) {
        out = Py_NewRef(Py_None);
    } else if (r == 1 && line.type == REQUEST) {
        out = Py_BuildValue("{s:s,s:O,s:O,s:O,s:O}", "event", "Request", "request_id", line.request_id, "model",
                            line.model, "provider", or_none(line.provider), "operation", or_none(line.operation));
    } else if (r == 1 && line.type == DECISION) {
        PyObject *validation = line.validation_result != NULL ? line.validation_result : s_empty;
        out = Py_BuildValue("{s:s,s:O,s:N,s:O,s:N,s:O}", "event", "Decision", "request_id",
                            or_none(line.request_id), "action", upper(line.action), "symbol",
                            line.symbol != NULL ? line.symbol : s_empty, "validation_result", upper(validation),
                            "model", or_none(line.model));
    } else if (r == 1) {
        const Tokens *t = &line.t;
        PyObject *ttfc = line.has_ttfc ? PyFloat_FromDouble(line.ttfc_ms / 1000.0) : Py_NewRef(Py_None);
        PyObject *cost = line.has_cost ? PyFloat_FromDouble(line.cost) : Py_NewRef(Py_None);
        out = Py_BuildValue("{s:s,s:O,s:O,s:O,s:O,s:d,s:L,s:L,s:L,s:L,s:L,s:N,s:O,s:O,s:N}", "event", "Completion",
                            "request_id", or_none(line.request_id), "model", or_none(line.model), "provider",
                            or_none(line.provider), "operation", or_none(line.operation), "duration",
                            line.duration_ms / 1000.0, "input_tokens", t->in, "output_tokens", t->out,
                            "cache_read_tokens", t->cache_read, "cache_write_tokens", t->cache_write,
                            "reasoning_tokens", t->reasoning, "cost", cost, "error_type",
                            or_none(line.error_type), "http_status", or_none(line.status),
                            "time_to_first_chunk", ttfc);
    }
    line_clear(&line);
    PyBuffer_Release(&buf);
    return out;
}

static PyMethodDef HotPath_methods[] = {
    {"read", (PyCFunction)HotPath_read, METH_O, "What the hot path reads from a line (for tests)."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject HotPathType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "llm_exporter.pipeline._hotpath.HotPath",
    .tp_basicsize = sizeof(HotPath),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The completion format's common lines, recorded in C (see pipeline/hotpath.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)HotPath_init,
    .tp_dealloc = (destructor)HotPath_dealloc,
    .tp_call = (ternaryfunc)HotPath_call,
    .tp_methods = HotPath_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hotpath", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__hotpath(void) {
    struct { PyObject **target; const char *text; } strings[] = {
        {&s_input, "input"}, {&s_output, "output"}, {&s_cache_read, "cache_read"},
        {&s_cache_write, "cache_write"}, {&s_reasoning, "reasoning"}, {&s_provider_label, "gen_ai_provider_name"},
        {&s_operation_label, "gen_ai_operation_name"}, {&s_model_label, "gen_ai_request_model"},
        {&s_action, "action"}, {&s_symbol, "symbol"}, {&s_validation_result, "validation_result"},
        {&s_error_type, "error_type"}, {&s_empty, ""}, {&s_upper, "upper"}};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        if ((*strings[i].target = PyUnicode_InternFromString(strings[i].text)) == NULL) return NULL;
    if ((s_one = PyLong_FromLong(1)) == NULL || (s_minus_one = PyLong_FromLong(-1)) == NULL ||
        (s_unlooked = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type)) == NULL)
        return NULL;
    if (json_keys_ready(&LINE_KEYS) || json_keys_ready(&USAGE_KEYS) || json_keys_ready(&DETAILS_KEYS) ||
        json_keys_ready(&EVENT_KEYS)) {
        PyErr_SetString(PyExc_SystemError, "hotpath: a key table past its index");
        return NULL;
    }
    if (PyType_Ready(&HotPathType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&HotPathType);
    if (PyModule_AddObject(m, "HotPath", (PyObject *)&HotPathType) < 0) {
        Py_DECREF(&HotPathType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
