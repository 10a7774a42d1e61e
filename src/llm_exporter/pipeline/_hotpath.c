/* The completion format's common lines, from the read buffer to the metrics store, in C.
 *
 * pipeline/hotpath.py says when this runs and what it is held to. In short: each line of the
 * buffer is decoded by the format's typed decoder (formats.completion.decode_hot: per event type,
 * the fields its parser checks), and a line whose series, pending request, price and label values
 * are already known is recorded here exactly as SourcePipeline's handlers would record it; every
 * other line (undecodable, rejected, another event type, a first sighting, a full table) goes to
 * `slow`, the Python path, with nothing done here. Checks come first and mutations last, so a
 * line is either recorded whole here or handed on untouched.
 *
 * The Python objects are read through their slots' offsets (member descriptors looked up once),
 * each object's type checked before its slots are read.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* Built with -ffp-contract=off (setup.py): sums in the order, and with the rounding, of the
   Python they stand for. */

#define SLOT(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

/* Slots read from each type, by name. */
enum { L_REQUEST_ID, L_MODEL, L_PROVIDER, L_OPERATION, L_RESPONSE_TIME_MS, L_SUCCESS,
       L_ERROR, L_ERROR_TYPE, L_STATUS_CODE, L_TOKEN_USAGE, L_USAGE, L_TTFC_MS, L_COST, L_ACTION, L_SYMBOL,
       L_VALIDATION_RESULT, L_N };
static const char *LINE_SLOTS[L_N] = {
    "request_id", "model", "provider", "operation", "response_time_ms", "success", "error",
    "error_type", "status_code", "token_usage", "usage", "time_to_first_chunk_ms", "cost_estimate_usd",
    "action", "symbol", "validation_result"};

enum { U_PROMPT, U_COMPLETION, U_INPUT, U_OUTPUT, U_TOTAL, U_CACHE_READ, U_CACHE_WRITE, U_PROMPT_DETAILS,
       U_COMPLETION_DETAILS, U_N };
static const char *USAGE_SLOTS[U_N] = {
    "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "total_tokens",
    "cache_read_input_tokens", "cache_creation_input_tokens", "prompt_tokens_details",
    "completion_tokens_details"};

enum { D_CACHED, D_REASONING, D_N };
static const char *DETAILS_SLOTS[D_N] = {"cached_tokens", "reasoning_tokens"};

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

/* The decoder gives one of these shapes, by event type (formats.completion.HOT_SHAPES). */
enum { REQUEST, RESPONSE, DECISION, LINE_SHAPES };

#define BOUNDS_CACHED 4
#define CALLS_CACHED 4096  /* as SourcePipeline's own cache of series resolutions */

/* A histogram's bounds as doubles (a few layouts serve every histogram). */
typedef struct {
    PyObject *bounds;
    double *values;
} Bounds;

typedef struct {
    PyObject_HEAD
    PyObject *pipeline, *decode, *slow, *unset;
    PyObject *per_call;  /* _Call -> (its (operation, provider, model) key, its Price or None) */
    Bounds bounds[BOUNDS_CACHED];
    PyTypeObject *line_t[LINE_SHAPES], *usage_t, *details_t, *series_t, *histogram_t, *call_t, *price_t,
        *unit_price_t;
    Py_ssize_t line[LINE_SHAPES][L_N], details[D_N], usage[U_N], series[S_N], histogram[H_N], call[C_N],
        price[P_N], unit_price[UP_N];
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

/* The offsets of the slots `names` of `type`; with `partial`, -1 for a name it lacks (a line shape
   has only the fields its event type reads, and its handler reads only those). */
static int offsets(PyTypeObject *type, const char **names, int n, Py_ssize_t *out, int partial) {
    for (int i = 0; i < n; i++) {
        PyObject *d = PyObject_GetAttrString((PyObject *)type, names[i]);
        if (d == NULL && partial && PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            out[i] = -1;
            continue;
        }
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
    Py_XDECREF(self->pipeline); Py_XDECREF(self->decode); Py_XDECREF(self->slow); Py_XDECREF(self->unset);
    for (int i = 0; i < LINE_SHAPES; i++) Py_XDECREF(self->line_t[i]);
    Py_XDECREF(self->usage_t);
    Py_XDECREF(self->details_t); Py_XDECREF(self->series_t);
    Py_XDECREF(self->histogram_t); Py_XDECREF(self->call_t); Py_XDECREF(self->price_t);
    Py_XDECREF(self->unit_price_t);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int HotPath_init(HotPath *self, PyObject *args, PyObject *kwds) {
    static char *kw[] = {"pipeline", "decode", "slow", "unset", "request", "response", "decision", "usage",
                         "series", "histogram", "call", "price", "unit_price", "details", NULL};
    PyObject *pipeline, *decode, *slow, *unset;
    PyTypeObject *shapes[LINE_SHAPES], *t[8];
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOO!O!O!O!O!O!O!O!O!O!", kw, &pipeline, &decode, &slow, &unset,
                                     &PyType_Type, &shapes[REQUEST], &PyType_Type, &shapes[RESPONSE],
                                     &PyType_Type, &shapes[DECISION], &PyType_Type, &t[1], &PyType_Type, &t[2],
                                     &PyType_Type, &t[3], &PyType_Type, &t[4], &PyType_Type, &t[5],
                                     &PyType_Type, &t[6], &PyType_Type, &t[7]))
        return -1;
    for (int i = 0; i < LINE_SHAPES; i++)
        if (offsets(shapes[i], LINE_SLOTS, L_N, self->line[i], 1)) return -1;
    if (offsets(t[1], USAGE_SLOTS, U_N, self->usage, 0) || offsets(t[2], SERIES_SLOTS, S_N, self->series, 0) ||
        offsets(t[3], HISTOGRAM_SLOTS, H_N, self->histogram, 0) || offsets(t[4], CALL_SLOTS, C_N, self->call, 0) ||
        offsets(t[5], PRICE_SLOTS, P_N, self->price, 0) || offsets(t[6], UNIT_PRICE_SLOTS, UP_N, self->unit_price, 0) ||
        offsets(t[7], DETAILS_SLOTS, D_N, self->details, 0))
        return -1;
    Py_XSETREF(self->per_call, PyDict_New());
    if (self->per_call == NULL) return -1;
    PyObject **fields[] = {&self->pipeline, &self->decode, &self->slow, &self->unset};
    PyObject *values[] = {pipeline, decode, slow, unset};
    for (int i = 0; i < 4; i++) {
        Py_INCREF(values[i]);
        Py_XSETREF(*fields[i], values[i]);
    }
    for (int i = 0; i < LINE_SHAPES; i++) {
        Py_INCREF(shapes[i]);
        Py_XSETREF(self->line_t[i], shapes[i]);
    }
    PyTypeObject **types[] = {NULL, &self->usage_t, &self->series_t, &self->histogram_t,
                              &self->call_t, &self->price_t, &self->unit_price_t, &self->details_t};
    for (int i = 1; i < 8; i++) {
        Py_INCREF(t[i]);
        Py_XSETREF(*types[i], t[i]);
    }
    return 0;
}

/* -- one line as a buffer ------------------------------------------------------------------
   The decoder takes any buffer; a memoryview a line would cost an allocation (tracked by the
   garbage collector) each. This one object points at each line in turn, and is replaced only
   if somebody still holds a view of it. */

typedef struct {
    PyObject_HEAD
    const char *data;
    Py_ssize_t size, exports;
} LineBuffer;

static int LineBuffer_getbuffer(LineBuffer *self, Py_buffer *view, int flags) {
    if (PyBuffer_FillInfo(view, (PyObject *)self, (void *)self->data, self->size, 1, flags) < 0) return -1;
    self->exports++;
    return 0;
}

static void LineBuffer_releasebuffer(LineBuffer *self, Py_buffer *view) { self->exports--; }

static PyBufferProcs LineBuffer_as_buffer = {
    (getbufferproc)LineBuffer_getbuffer, (releasebufferproc)LineBuffer_releasebuffer};

static PyTypeObject LineBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "llm_exporter.pipeline._hotpath.LineBuffer",
    .tp_basicsize = sizeof(LineBuffer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_as_buffer = &LineBuffer_as_buffer,
};

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
    f->prices = attr_path(self->pipeline, "prices", "_cache");
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

/* -- the events ------------------------------------------------------------------------------
   Each returns 1 when it recorded the line, 0 when the line is left to the Python path (nothing
   changed), -1 on error. */

static int request(HotPath *self, Feed *f, PyObject *line, const Py_ssize_t *o) {
    PyObject *rid = SLOT(line, o[L_REQUEST_ID]), *model = SLOT(line, o[L_MODEL]);
    if (rid == Py_None || model == Py_None) return 0;
    PyObject *key = PyTuple_Pack(4, f->labels, model, SLOT(line, o[L_PROVIDER]),
                                 SLOT(line, o[L_OPERATION]));
    if (key == NULL) return -1;
    PyObject *call = PyDict_GetItemWithError(f->calls, key);
    Py_DECREF(key);
    if (call == NULL) return PyErr_Occurred() ? -1 : 0;
    if (!Py_IS_TYPE(call, self->call_t)) return 0;
    PyObject *series = SLOT(call, self->call[C_SERIES]);
    if (!Py_IS_TYPE(series, self->series_t)) return 0;
    int known = PyDict_Contains(f->pending, rid);
    if (known != 0) return known < 0 ? -1 : 0;  /* an earlier request of that id is dropped: Python */
    if (PyDict_GET_SIZE(f->pending) >= f->pending_max) return 0;  /* the oldest is orphaned: Python */
    Py_INCREF(call);
    int r = add_slot(series, self->series[S_IN_FLIGHT], s_one);
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
   price). 1 with both (borrowed; the price is UNSET unless needed), 0 if the price is needed and
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
        info = PyTuple_Pack(2, counts_key, self->unset);
        Py_DECREF(counts_key);
        /* Folded series get a new call each time: past the cap, nothing more is kept. */
        if (info == NULL || PyDict_GET_SIZE(self->per_call) >= CALLS_CACHED ||
            PyDict_SetItem(self->per_call, call, info) < 0) {
            Py_XDECREF(info);
            return PyErr_Occurred() ? -1 : 0;  /* not kept: the Python path records it */
        }
        Py_DECREF(info);  /* the borrowed references below live as long as the call's entry */
    }
    if (need_price && PyTuple_GET_ITEM(info, 1) == self->unset) {
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

/* A call's tokens as fields.typed_usage gives them. */
typedef struct {
    long long in, out, cache_read, cache_write, reasoning;
} Tokens;

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

/* fields.error_class leaves a name alone when it matches ^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$; 1 if this
   one does (a name ending in a newline, which `$` lets through, is left to Python). */
static int error_class_kept(PyObject *name) {
    if (!PyUnicode_IS_ASCII(name)) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(name);
    const unsigned char *c = PyUnicode_1BYTE_DATA(name);
    if (n < 1 || n > 64 || !(c[0] == '_' || ((c[0] | 0x20) >= 'a' && (c[0] | 0x20) <= 'z'))) return 0;
    for (Py_ssize_t i = 1; i < n; i++) {
        unsigned char ch = c[i], low = ch | 0x20;
        if (!((low >= 'a' && low <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == ':' ||
              ch == '-'))
            return 0;
    }
    return 1;
}

/* A failed response's error class and HTTP status label (fields.error_class, fields.http_status),
   as new references in *error_type and *status (None for no status): 1 if this path can tell
   them, 0 if not, -1 on error. Only the usual shape: an error_type, no error object, a status
   code absent or an integer. */
static int failure(HotPath *self, PyObject *line, const Py_ssize_t *o, PyObject **error_type, PyObject **status) {
    PyObject *name = SLOT(line, o[L_ERROR_TYPE]), *code = SLOT(line, o[L_STATUS_CODE]);
    if (!PyUnicode_CheckExact(name) || SLOT(line, o[L_ERROR]) != Py_None || !error_class_kept(name))
        return 0;
    if (code == self->unset) {
        *status = Py_None;
        Py_INCREF(Py_None);
    } else if (PyLong_CheckExact(code)) {
        long value = PyLong_AsLong(code);
        if (value == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        if (value < 100 || value > 599) return 0;
        if ((*status = PyUnicode_FromFormat("%ld", value)) == NULL) return -1;
    } else {
        return 0;
    }
    Py_INCREF(name);
    *error_type = name;
    return 1;
}

/* A token count slot: 1 with its value (None is absent, 0 here), 0 if not an int or None. */
static int tokens_in(PyObject *value, long long *out, int *present) {
    *present = value != Py_None;
    if (!*present) {
        *out = 0;
        return 1;
    }
    if (!PyLong_CheckExact(value)) return 0;
    *out = PyLong_AsLongLong(value);  /* at most MAX_TOKENS: the shapes bound them */
    return 1;
}

/* fields.typed_usage of a response's usage (token_usage, else usage): 1 with the counts, 0 for a
   shape left to Python (a total alone: unsplit tokens). No usage at all gives zeros. */
static int usage_of(HotPath *self, PyObject *line, const Py_ssize_t *o, Tokens *t) {
    memset(t, 0, sizeof(*t));
    PyObject *usage = SLOT(line, o[L_TOKEN_USAGE]);
    if (usage == self->unset) usage = SLOT(line, o[L_USAGE]);
    if (usage == Py_None) return 1;
    if (!Py_IS_TYPE(usage, self->usage_t)) return 0;
    long long v[U_COMPLETION_DETAILS];
    int present[U_COMPLETION_DETAILS];
    PyObject *completion = SLOT(usage, self->usage[U_COMPLETION]);
    int completion_unset = completion == self->unset;
    for (int i = U_PROMPT; i < U_PROMPT_DETAILS; i++) {
        PyObject *value = SLOT(usage, self->usage[i]);
        if (i == U_COMPLETION && completion_unset) value = Py_None;
        if (!tokens_in(value, &v[i], &present[i])) return 0;
    }
    t->cache_read = v[U_CACHE_READ];
    t->cache_write = v[U_CACHE_WRITE];
    PyObject *details = SLOT(usage, self->usage[U_PROMPT_DETAILS]);
    int has;
    long long n;
    if (details != Py_None) {
        if (!Py_IS_TYPE(details, self->details_t) || !tokens_in(SLOT(details, self->details[D_CACHED]), &n, &has))
            return 0;
        if (!t->cache_read) t->cache_read = n;
    }
    details = SLOT(usage, self->usage[U_COMPLETION_DETAILS]);
    if (details != Py_None) {
        if (!Py_IS_TYPE(details, self->details_t) ||
            !tokens_in(SLOT(details, self->details[D_REASONING]), &t->reasoning, &has))
            return 0;
    }
    if (!present[U_PROMPT] && !present[U_COMPLETION] && !present[U_INPUT] && !present[U_OUTPUT]) {
        /* no split counts: the total is unsplit, the cache kinds are still counted (Python) */
        return !v[U_TOTAL] && !t->cache_read && !t->cache_write && !t->reasoning;
    }
    t->in = present[U_PROMPT] ? v[U_PROMPT] : v[U_INPUT] + t->cache_read + t->cache_write;
    t->out = completion_unset ? v[U_OUTPUT] : v[U_COMPLETION];
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

static int response(HotPath *self, Feed *f, PyObject *line, const Py_ssize_t *o) {
    PyObject *ms = SLOT(line, o[L_RESPONSE_TIME_MS]), *rid = SLOT(line, o[L_REQUEST_ID]);
    PyObject *success = SLOT(line, o[L_SUCCESS]);
    if (!PyFloat_CheckExact(ms) || rid == Py_None || (success != Py_True && success != Py_False)) return 0;
    PyObject *error_type = NULL, *status = NULL, *fkey = NULL, *call = NULL;
    Tokens t;
    int r = usage_of(self, line, o, &t);
    if (r != 1) goto done;
    int has_usage = t.in > 0 || t.out > 0, ok = success == Py_True;
    if (!ok && (r = failure(self, line, o, &error_type, &status)) != 1) goto done;

    r = entry_call(self, f->pending, rid, &call);
    if (r != 1) {
        r = r < 0 ? -1 : 0;
        call = NULL;
        goto done;
    }
    Py_INCREF(call);
    r = 0;
    PyObject *model = SLOT(line, o[L_MODEL]), *requested = SLOT(call, self->call[C_MODEL]);
    if (model != Py_None && (r = PyObject_RichCompareBool(model, requested, Py_EQ)) != 1) goto done;
    r = 0;
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
        if ((fkey = PyTuple_Pack(2, error_type, status == Py_None ? s_empty : status)) == NULL) goto done;
        if ((r = PyDict_Contains(failed_calls, fkey)) != 1) goto done;
    }
    r = 0;
    if (!histogram_ok(self, hist)) goto done;
    PyObject *ttfc_ms = SLOT(line, o[L_TTFC_MS]), *ttfc = NULL;
    if (ttfc_ms != Py_None) {
        ttfc = SLOT(series, self->series[S_TTFC]);
        if (!PyFloat_CheckExact(ttfc_ms) || !histogram_ok(self, ttfc)) goto done;  /* its first: Python */
    }
    PyObject *logged = SLOT(line, o[L_COST]), *counts_key, *price;
    if ((r = call_info(self, f, call, series, logged == Py_None && has_usage, &counts_key, &price)) != 1) goto done;
    r = 0;
    double cost = 0.0;
    int priced = 0;  /* 1: add `cost`, 2: count as unpriced, 0: neither */
    if (logged != Py_None) {
        if (!PyFloat_CheckExact(logged)) goto done;
        cost = PyFloat_AS_DOUBLE(logged);
        priced = 1;
    } else if (has_usage) {
        priced = price == Py_None ? 2 : cost_of(self, price, &t, &cost);
        if (!priced) goto done;
    }
    if ((r = PyDict_Contains(f->answered, rid)) < 0) goto done;
    int known = r;

    /* Recorded from here on, as SourcePipeline._completion does. */
    r = -1;
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
    if (priced == 1) {
        PyObject *sum = PyFloat_FromDouble(PyFloat_AS_DOUBLE(total) + cost);
        if (sum == NULL) goto done;
        set_slot(series, self->series[S_COST], sum);
    } else if (priced == 2 && add_item(f->unpriced, counts_key, s_one) < 0) {
        goto done;
    }
    if (observe(self, hist, PyFloat_AS_DOUBLE(ms) / 1000.0) < 0) goto done;
    if (ok) {
        set_slot(series, self->series[S_CONSECUTIVE_FAILURES], PyLong_FromLong(0));
    } else if (add_slot(series, self->series[S_CONSECUTIVE_FAILURES], s_one) < 0 ||
               add_item(failed_calls, fkey, s_one) < 0) {
        goto done;
    }
    if (has_usage) {
        if (observe(self, usage_in, (double)t.in) < 0 || observe(self, usage_out, (double)t.out) < 0) goto done;
    } else if (ok && add_item(f->usage_missing, counts_key, s_one) < 0) {
        goto done;
    }
    /* add_tokens: adding 0 leaves a total as it is */
    if (add_tokens(tokens, s_input, t.in) < 0 || add_tokens(tokens, s_output, t.out) < 0 ||
        add_tokens(tokens, s_cache_read, t.cache_read) < 0 || add_tokens(tokens, s_cache_write, t.cache_write) < 0 ||
        add_tokens(tokens, s_reasoning, t.reasoning) < 0)
        goto done;
    if (ttfc != NULL && observe(self, ttfc, PyFloat_AS_DOUBLE(ttfc_ms) / 1000.0) < 0) goto done;
    if (add_slot(series, self->series[ok ? S_REQUESTS_OK : S_REQUESTS_FAILED], s_one) < 0) goto done;
    r = 1;
done:
    Py_XDECREF(call);
    Py_XDECREF(fkey);
    Py_XDECREF(error_type);
    Py_XDECREF(status);
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

static int decision(HotPath *self, Feed *f, PyObject *line, const Py_ssize_t *o) {
    PyObject *action = SLOT(line, o[L_ACTION]), *rid = SLOT(line, o[L_REQUEST_ID]);
    if (!PyUnicode_CheckExact(action) || rid == Py_None) return 0;
    PyObject *call;
    int found = entry_call(self, f->answered, rid, &call);
    if (found == 0) found = entry_call(self, f->pending, rid, &call);
    if (found != 1) return found < 0 ? -1 : 0;
    PyObject *series = SLOT(call, self->call[C_SERIES]);
    if (!Py_IS_TYPE(series, self->series_t)) return 0;
    PyObject *decisions = SLOT(series, self->series[S_DECISIONS]);
    if (!PyDict_CheckExact(decisions)) return 0;
    PyObject *symbol = SLOT(line, o[L_SYMBOL]), *validation = SLOT(line, o[L_VALIDATION_RESULT]);
    if (symbol == Py_None) symbol = s_empty;
    if (validation == Py_None) validation = s_empty;
    if (!PyUnicode_CheckExact(symbol) || !PyUnicode_CheckExact(validation)) return 0;
    PyObject *key = NULL, *upper_action = upper(action), *upper_validation = upper(validation);
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

static int record(HotPath *self, Feed *f, PyObject *line) {
    PyTypeObject *type = Py_TYPE(line);
    if (type == self->line_t[RESPONSE]) return response(self, f, line, self->line[RESPONSE]);
    if (type == self->line_t[REQUEST]) return request(self, f, line, self->line[REQUEST]);
    if (type == self->line_t[DECISION]) return decision(self, f, line, self->line[DECISION]);
    return 0;
}

/* Whether a line is UTF-8, as the generic way requires (fields.typed): msgspec skips the fields a
   shape does not read without looking at their bytes. ASCII is checked a word at a time; other
   lines go through Python's own strict decoder. 1 if so, 0 if not, -1 on error. */
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
    LineBuffer *view = NULL;
    if (feed_load(self, &f) < 0) goto done;
    const char *p = buf.buf, *end = p + buf.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        Py_ssize_t n = stop - p, m = n;
        if (m && p[m - 1] == '\r') m--;
        int legible = utf8(p, m), taken = 0;
        if (legible < 0) goto done;
        if (legible) {
            if (view == NULL || Py_REFCNT(view) > 1 || view->exports) {
                Py_XDECREF(view);
                if ((view = PyObject_New(LineBuffer, &LineBufferType)) == NULL) goto done;
                view->exports = 0;
            }
            view->data = p;
            view->size = m;
            PyObject *line = PyObject_CallOneArg(self->decode, (PyObject *)view);
            if (line == NULL) {
                PyErr_Clear();  /* the Python path decodes it again and says why it is bad */
            } else {
                taken = record(self, &f, line);
                Py_DECREF(line);
                if (taken < 0) goto done;
            }
        }
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
    Py_XDECREF(view);
    feed_clear(&f);
    PyBuffer_Release(&buf);
    return result;
}

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
    if ((s_one = PyLong_FromLong(1)) == NULL || (s_minus_one = PyLong_FromLong(-1)) == NULL) return NULL;
    if (PyType_Ready(&HotPathType) < 0 || PyType_Ready(&LineBufferType) < 0) return NULL;
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
