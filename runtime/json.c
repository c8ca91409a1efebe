/* json.c: see json.h. */
#include "runtime/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"

#define DEFAULT_DEPTH 64u
#define MAX_DEPTH 1024u
#define DEFAULT_STRING ((size_t)1 << 20)
#define DEFAULT_VALUES ((size_t)1 << 20)

/* What the reader expects next. */
enum {
    ST_VALUE,      /* a value: at the start, after ':' or after ',' in an array */
    ST_FIRST_ITEM, /* a value or ']' right after '[' */
    ST_FIRST_KEY,  /* a key or '}' right after '{' */
    ST_KEY,        /* a key, after ',' in an object */
    ST_AFTER,      /* ',' or the container's end after a value, or the end of input */
    ST_EOF
};

/* ---- errors --------------------------------------------------------------------------------- */

/* Records a sticky error "<msg> at byte <pos>" and returns rc. */
static int fail_rc(struct rm_json_reader *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_rc(struct rm_json_reader *r, int rc, const char *fmt, ...)
{
    char msg[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rc == RM_ENOMEM)
        snprintf(r->err, sizeof r->err, "out of memory");
    else
        snprintf(r->err, sizeof r->err, "%s at byte %zu", msg, r->pos);
    r->rc = rc;
    return rc;
}

#define fail(r, ...) fail_rc((r), RM_EINVAL, __VA_ARGS__)

/* An error saying what was expected and what was found at r->pos. */
static int fail_expected(struct rm_json_reader *r, const char *what)
{
    if (r->pos >= r->len)
        return fail(r, "unexpected end of input (expected %s)", what);
    unsigned char c = (unsigned char)r->buf[r->pos];
    if (c > 0x20 && c < 0x7f)
        return fail(r, "expected %s, found '%c'", what, c);
    return fail(r, "expected %s, found byte 0x%02x", what, c);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

int rm_json_reader_init(struct rm_json_reader *r, const char *buf, size_t len,
                        const struct rm_json_limits *lim)
{
    memset(r, 0, sizeof *r);
    r->buf = buf;
    r->len = len;
    if (lim)
        r->lim = *lim;
    if (r->lim.max_depth == 0)
        r->lim.max_depth = DEFAULT_DEPTH;
    if (r->lim.max_depth > MAX_DEPTH)
        r->lim.max_depth = MAX_DEPTH;
    if (r->lim.max_string == 0)
        r->lim.max_string = DEFAULT_STRING;
    if (r->lim.max_values == 0)
        r->lim.max_values = DEFAULT_VALUES;
    r->state = ST_VALUE;
    r->stack = malloc(r->lim.max_depth);
    if (!r->stack)
        return fail_rc(r, RM_ENOMEM, "out of memory");
    return 0;
}

void rm_json_reader_close(struct rm_json_reader *r)
{
    free(r->stack);
    free(r->str);
    r->stack = NULL;
    r->str = NULL;
    r->str_cap = r->str_len = 0;
}

const char *rm_json_reader_error(const struct rm_json_reader *r)
{
    return r->err;
}

size_t rm_json_reader_offset(const struct rm_json_reader *r)
{
    return r->pos;
}

/* ---- strings --------------------------------------------------------------------------------- */

/* Appends n bytes to the string being decoded, keeping room for the final NUL. */
static int str_append(struct rm_json_reader *r, const char *p, size_t n)
{
    if (n > r->lim.max_string - r->str_len)
        return fail_rc(r, RM_EMSGSIZE, "string longer than %zu bytes", r->lim.max_string);
    if (r->str_len + n + 1 > r->str_cap) {
        size_t cap = r->str_cap ? r->str_cap : 64;
        while (cap < r->str_len + n + 1)
            cap *= 2;
        char *s = realloc(r->str, cap);
        if (!s)
            return fail_rc(r, RM_ENOMEM, "out of memory");
        r->str = s;
        r->str_cap = cap;
    }
    memcpy(r->str + r->str_len, p, n);
    r->str_len += n;
    return 0;
}

/* Appends code point cp (at most U+10FFFF, not a surrogate) as UTF-8. */
static int str_append_cp(struct rm_json_reader *r, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return str_append(r, b, n);
}

/* Reads 4 hex digits at r->pos into *out. */
static int read_hex4(struct rm_json_reader *r, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        if (r->pos >= r->len)
            return fail(r, "unexpected end of input in a \\u escape");
        char c = r->buf[r->pos];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return fail_expected(r, "a hex digit");
        v = v * 16 + d;
        r->pos++;
    }
    *out = v;
    return 0;
}

/* Reads the code point of a \u escape (r->pos after "\u"), joining a surrogate pair. */
static int read_u_escape(struct rm_json_reader *r, uint32_t *cp)
{
    int rc = read_hex4(r, cp);
    if (rc != 0)
        return rc;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF) {
        r->pos -= 6;
        return fail(r, "lone low surrogate \\u%04X", (unsigned)*cp);
    }
    if (*cp < 0xD800 || *cp > 0xDBFF)
        return 0;
    if (r->len - r->pos < 2 && (r->pos == r->len || r->buf[r->pos] == '\\')) {
        r->pos = r->len;
        return fail(r, "unexpected end of input after a high surrogate");
    }
    if (r->len - r->pos < 2 || r->buf[r->pos] != '\\' || r->buf[r->pos + 1] != 'u') {
        r->pos -= 6;
        return fail(r, "high surrogate \\u%04X not followed by a low one", (unsigned)*cp);
    }
    r->pos += 2;
    uint32_t lo;
    if ((rc = read_hex4(r, &lo)) != 0)
        return rc;
    if (lo < 0xDC00 || lo > 0xDFFF) {
        r->pos -= 6;
        return fail(r, "expected a low surrogate, found \\u%04X", (unsigned)lo);
    }
    *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
    return 0;
}

/* Decodes one escape sequence; r->pos is at the backslash. */
static int read_escape(struct rm_json_reader *r)
{
    if (r->len - r->pos < 2) {
        r->pos = r->len;
        return fail(r, "unexpected end of input in an escape");
    }
    char c = r->buf[r->pos + 1], out;
    switch (c) {
    case '"':
        out = '"';
        break;
    case '\\':
        out = '\\';
        break;
    case '/':
        out = '/';
        break;
    case 'b':
        out = '\b';
        break;
    case 'f':
        out = '\f';
        break;
    case 'n':
        out = '\n';
        break;
    case 'r':
        out = '\r';
        break;
    case 't':
        out = '\t';
        break;
    case 'u': {
        r->pos += 2;
        uint32_t cp;
        int rc = read_u_escape(r, &cp);
        return rc != 0 ? rc : str_append_cp(r, cp);
    }
    default:
        r->pos++;
        return fail_expected(r, "an escape letter");
    }
    r->pos += 2;
    return str_append(r, &out, 1);
}

/* Length of the valid UTF-8 sequence of 2 to 4 bytes at p (n bytes available), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        need = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        need = 3;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        need = 4;
    else
        return 0;
    if (p[0] == 0xE0)
        lo = 0xA0; /* no overlong forms */
    else if (p[0] == 0xED)
        hi = 0x9F; /* no surrogates */
    else if (p[0] == 0xF0)
        lo = 0x90;
    else if (p[0] == 0xF4)
        hi = 0x8F; /* nothing above U+10FFFF */
    if (n < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return need;
}

/* Length of the run of bytes at p that need no decoding (plain printable ASCII). */
static size_t plain_run(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
        i++;
    return i;
}

/* Reads a string (r->pos at its opening quote) into the scratch buffer. */
static int read_string(struct rm_json_reader *r)
{
    const unsigned char *b = (const unsigned char *)r->buf;
    int rc = 0;
    r->str_len = 0;
    r->pos++;
    if ((rc = str_append(r, "", 0)) != 0) /* make sure the scratch exists */
        return rc;
    while (rc == 0) {
        size_t run = plain_run(b + r->pos, r->len - r->pos);
        if (run && (rc = str_append(r, r->buf + r->pos, run)) != 0)
            return rc;
        r->pos += run;
        if (r->pos >= r->len)
            return fail(r, "unexpected end of input in a string");
        unsigned char c = b[r->pos];
        if (c == '"') {
            r->pos++;
            r->str[r->str_len] = '\0';
            return 0;
        }
        if (c == '\\') {
            rc = read_escape(r);
        } else if (c < 0x20) {
            rc = fail(r, "control character 0x%02x in a string", c);
        } else {
            size_t n = utf8_seq(b + r->pos, r->len - r->pos);
            if (n == 0)
                return fail(r, "invalid UTF-8 in a string");
            rc = str_append(r, r->buf + r->pos, n);
            r->pos += n;
        }
    }
    return rc;
}

/* ---- numbers and literals -------------------------------------------------------------------- */

static bool is_digit(const struct rm_json_reader *r)
{
    return r->pos < r->len && r->buf[r->pos] >= '0' && r->buf[r->pos] <= '9';
}

/* Steps over one or more digits. */
static int digits(struct rm_json_reader *r)
{
    if (!is_digit(r))
        return fail_expected(r, "a digit");
    while (is_digit(r))
        r->pos++;
    return 0;
}

/* Checks the number grammar from r->pos and steps over it. */
static int scan_number(struct rm_json_reader *r)
{
    if (r->buf[r->pos] == '-')
        r->pos++;
    if (r->pos < r->len && r->buf[r->pos] == '0') {
        r->pos++;
        if (is_digit(r))
            return fail(r, "leading zero in a number");
    } else if (digits(r) != 0) {
        return r->rc;
    }
    if (r->pos < r->len && r->buf[r->pos] == '.') {
        r->pos++;
        if (digits(r) != 0)
            return r->rc;
    }
    if (r->pos < r->len && (r->buf[r->pos] == 'e' || r->buf[r->pos] == 'E')) {
        r->pos++;
        if (r->pos < r->len && (r->buf[r->pos] == '+' || r->buf[r->pos] == '-'))
            r->pos++;
        if (digits(r) != 0)
            return r->rc;
    }
    return 0;
}

static int read_number(struct rm_json_reader *r, struct rm_json_token *tok)
{
    size_t start = r->pos;
    int rc = scan_number(r);
    if (rc != 0)
        return rc;
    /* strtod needs a terminated copy, and must not see more than the checked text (it would
     * take "0x1" as hex). */
    r->str_len = 0;
    if ((rc = str_append(r, r->buf + start, r->pos - start)) != 0)
        return rc;
    r->str[r->str_len] = '\0';
    double v = strtod(r->str, NULL);
    if (isinf(v)) {
        r->pos = start;
        return fail(r, "number out of range");
    }
    tok->kind = RM_JSON_TOK_NUMBER;
    tok->number = v;
    r->state = ST_AFTER;
    return 0;
}

static int read_literal(struct rm_json_reader *r, struct rm_json_token *tok)
{
    static const struct {
        const char *text;
        enum rm_json_tok kind;
    } lits[] = {
        {"true", RM_JSON_TOK_TRUE}, {"false", RM_JSON_TOK_FALSE}, {"null", RM_JSON_TOK_NULL}};
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {
        size_t n = strlen(lits[i].text);
        if (r->len - r->pos >= n && memcmp(r->buf + r->pos, lits[i].text, n) == 0) {
            r->pos += n;
            tok->kind = lits[i].kind;
            r->state = ST_AFTER;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {
        size_t left = r->len - r->pos;
        if (left < strlen(lits[i].text) && memcmp(r->buf + r->pos, lits[i].text, left) == 0) {
            r->pos = r->len;
            return fail(r, "unexpected end of input in '%s'", lits[i].text);
        }
    }
    return fail_expected(r, "a value");
}

/* ---- the token state machine ----------------------------------------------------------------- */

static void skip_ws(struct rm_json_reader *r)
{
    while (r->pos < r->len) {
        char c = r->buf[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        r->pos++;
    }
}

static int open_container(struct rm_json_reader *r, struct rm_json_token *tok, char c)
{
    if (r->depth >= r->lim.max_depth)
        return fail_rc(r, RM_EMSGSIZE, "nesting deeper than %u levels", r->lim.max_depth);
    r->stack[r->depth++] = (unsigned char)c;
    r->pos++;
    tok->kind = c == '[' ? RM_JSON_TOK_BEGIN_ARRAY : RM_JSON_TOK_BEGIN_OBJECT;
    r->state = c == '[' ? ST_FIRST_ITEM : ST_FIRST_KEY;
    return 0;
}

static int close_container(struct rm_json_reader *r, struct rm_json_token *tok)
{
    char open = (char)r->stack[--r->depth];
    r->pos++;
    tok->kind = open == '[' ? RM_JSON_TOK_END_ARRAY : RM_JSON_TOK_END_OBJECT;
    r->state = ST_AFTER;
    return 0;
}

static int read_value(struct rm_json_reader *r, struct rm_json_token *tok)
{
    if (r->pos >= r->len)
        return fail_expected(r, "a value");
    char c = r->buf[r->pos];
    if (c == '[' || c == '{')
        return open_container(r, tok, c);
    if (c == '-' || (c >= '0' && c <= '9'))
        return read_number(r, tok);
    if (c != '"')
        return read_literal(r, tok);
    int rc = read_string(r);
    if (rc != 0)
        return rc;
    tok->kind = RM_JSON_TOK_STRING;
    tok->str = r->str;
    tok->len = r->str_len;
    r->state = ST_AFTER;
    return 0;
}

/* Reads a member name and the ':' after it. */
static int read_key(struct rm_json_reader *r, struct rm_json_token *tok)
{
    if (r->pos >= r->len || r->buf[r->pos] != '"')
        return fail_expected(r, "a string (an object key)");
    int rc = read_string(r);
    if (rc != 0)
        return rc;
    skip_ws(r);
    if (r->pos >= r->len || r->buf[r->pos] != ':')
        return fail_expected(r, "':'");
    r->pos++;
    tok->kind = RM_JSON_TOK_KEY;
    tok->str = r->str;
    tok->len = r->str_len;
    r->state = ST_VALUE;
    return 0;
}

/* After a value: the end of input at depth 0, else ',' or the end of the open container. */
static int after_value(struct rm_json_reader *r, struct rm_json_token *tok)
{
    if (r->depth == 0) {
        if (r->pos < r->len)
            return fail_expected(r, "the end of input");
        r->state = ST_EOF;
        tok->kind = RM_JSON_TOK_EOF;
        return 0;
    }
    bool array = r->stack[r->depth - 1] == '[';
    char c = r->pos < r->len ? r->buf[r->pos] : '\0';
    if (c == (array ? ']' : '}'))
        return close_container(r, tok);
    if (c != ',')
        return fail_expected(r, array ? "',' or ']'" : "',' or '}'");
    r->pos++;
    skip_ws(r);
    tok->offset = r->pos;
    return array ? read_value(r, tok) : read_key(r, tok);
}

int rm_json_next(struct rm_json_reader *r, struct rm_json_token *tok)
{
    if (r->rc != 0)
        return r->rc;
    skip_ws(r);
    memset(tok, 0, sizeof *tok);
    tok->offset = r->pos;
    char c = r->pos < r->len ? r->buf[r->pos] : '\0';
    switch (r->state) {
    case ST_VALUE:
        return read_value(r, tok);
    case ST_FIRST_ITEM:
        return c == ']' ? close_container(r, tok) : read_value(r, tok);
    case ST_FIRST_KEY:
        return c == '}' ? close_container(r, tok) : read_key(r, tok);
    case ST_KEY:
        return read_key(r, tok);
    case ST_AFTER:
        return after_value(r, tok);
    default:
        tok->kind = RM_JSON_TOK_EOF;
        return 0;
    }
}

/* ---- trees ----------------------------------------------------------------------------------- */

static int build(struct rm_json_reader *r, const struct rm_json_token *tok,
                 struct rm_json_value *out, size_t *count);

/* Grows *items (of size sz each) so that index n fits. */
static int grow(struct rm_json_reader *r, void **items, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *p = ncap < SIZE_MAX / sz ? realloc(*items, ncap * sz) : NULL;
    if (!p)
        return fail_rc(r, RM_ENOMEM, "out of memory");
    *items = p;
    *cap = ncap;
    return 0;
}

static char *dup_bytes(struct rm_json_reader *r, const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (!d) {
        fail_rc(r, RM_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

/* Builds an array's items; out is a valid (possibly partial) array whatever happens. */
static int build_array(struct rm_json_reader *r, struct rm_json_value *out, size_t *count)
{
    size_t cap = 0;
    struct rm_json_token t;
    int rc;
    out->type = RM_JSON_ARRAY;
    while ((rc = rm_json_next(r, &t)) == 0 && t.kind != RM_JSON_TOK_END_ARRAY) {
        void *items = out->u.array.items;
        if ((rc = grow(r, &items, &cap, out->u.array.n, sizeof *out->u.array.items)) != 0)
            return rc;
        out->u.array.items = items;
        struct rm_json_value *v = &out->u.array.items[out->u.array.n++];
        v->type = RM_JSON_NULL;
        if ((rc = build(r, &t, v, count)) != 0)
            return rc;
    }
    return rc;
}

/* Builds an object's members; out is a valid (possibly partial) object whatever happens. */
static int build_object(struct rm_json_reader *r, struct rm_json_value *out, size_t *count)
{
    size_t cap = 0;
    struct rm_json_token t;
    int rc;
    out->type = RM_JSON_OBJECT;
    while ((rc = rm_json_next(r, &t)) == 0 && t.kind != RM_JSON_TOK_END_OBJECT) {
        void *members = out->u.object.members;
        if ((rc = grow(r, &members, &cap, out->u.object.n, sizeof *out->u.object.members)) != 0)
            return rc;
        out->u.object.members = members;
        struct rm_json_member *m = &out->u.object.members[out->u.object.n];
        m->value.type = RM_JSON_NULL;
        if (!(m->key = dup_bytes(r, t.str, t.len)))
            return r->rc;
        m->key_len = t.len;
        out->u.object.n++;
        if ((rc = rm_json_next(r, &t)) != 0 || (rc = build(r, &t, &m->value, count)) != 0)
            return rc;
    }
    return rc;
}

static int build(struct rm_json_reader *r, const struct rm_json_token *tok,
                 struct rm_json_value *out, size_t *count)
{
    memset(out, 0, sizeof *out);
    if (++*count > r->lim.max_values)
        return fail_rc(r, RM_EMSGSIZE, "more than %zu values in one tree", r->lim.max_values);
    switch (tok->kind) {
    case RM_JSON_TOK_NULL:
        out->type = RM_JSON_NULL;
        return 0;
    case RM_JSON_TOK_FALSE:
        out->type = RM_JSON_FALSE;
        return 0;
    case RM_JSON_TOK_TRUE:
        out->type = RM_JSON_TRUE;
        return 0;
    case RM_JSON_TOK_NUMBER:
        out->type = RM_JSON_NUMBER;
        out->u.number = tok->number;
        return 0;
    case RM_JSON_TOK_STRING:
        if (!(out->u.string.s = dup_bytes(r, tok->str, tok->len)))
            return r->rc;
        out->type = RM_JSON_STRING;
        out->u.string.len = tok->len;
        return 0;
    case RM_JSON_TOK_BEGIN_ARRAY:
        return build_array(r, out, count);
    case RM_JSON_TOK_BEGIN_OBJECT:
        return build_object(r, out, count);
    default:
        return fail(r, "no value to read");
    }
}

int rm_json_read_value(struct rm_json_reader *r, const struct rm_json_token *first,
                       struct rm_json_value *out)
{
    size_t count = 0;
    int rc = r->rc != 0 ? r->rc : build(r, first, out, &count);
    if (rc != 0)
        rm_json_value_free(out);
    return rc;
}

int rm_json_skip_value(struct rm_json_reader *r, const struct rm_json_token *first)
{
    if (r->rc != 0)
        return r->rc;
    if (first->kind != RM_JSON_TOK_BEGIN_ARRAY && first->kind != RM_JSON_TOK_BEGIN_OBJECT)
        return first->kind <= RM_JSON_TOK_STRING ? 0 : fail(r, "no value to read");
    size_t open = 1;
    struct rm_json_token t;
    while (open > 0) {
        int rc = rm_json_next(r, &t);
        if (rc != 0)
            return rc;
        if (t.kind == RM_JSON_TOK_BEGIN_ARRAY || t.kind == RM_JSON_TOK_BEGIN_OBJECT)
            open++;
        else if (t.kind == RM_JSON_TOK_END_ARRAY || t.kind == RM_JSON_TOK_END_OBJECT)
            open--;
    }
    return 0;
}

int rm_json_parse(const char *buf, size_t len, const struct rm_json_limits *lim,
                  struct rm_json_value *out, char *err, size_t errlen)
{
    struct rm_json_reader r;
    struct rm_json_token t;
    memset(out, 0, sizeof *out);
    int rc = rm_json_reader_init(&r, buf, len, lim);
    if (rc == 0 && (rc = rm_json_next(&r, &t)) == 0 && (rc = rm_json_read_value(&r, &t, out)) == 0)
        rc = rm_json_next(&r, &t); /* only EOF can follow: the reader checks */
    if (rc != 0)
        rm_json_value_free(out);
    if (err && errlen)
        snprintf(err, errlen, "%s", rm_json_reader_error(&r));
    rm_json_reader_close(&r);
    return rc;
}

void rm_json_value_free(struct rm_json_value *v)
{
    if (!v)
        return;
    switch (v->type) {
    case RM_JSON_STRING:
        free(v->u.string.s);
        break;
    case RM_JSON_ARRAY:
        for (size_t i = 0; i < v->u.array.n; i++)
            rm_json_value_free(&v->u.array.items[i]);
        free(v->u.array.items);
        break;
    case RM_JSON_OBJECT:
        for (size_t i = 0; i < v->u.object.n; i++) {
            free(v->u.object.members[i].key);
            rm_json_value_free(&v->u.object.members[i].value);
        }
        free(v->u.object.members);
        break;
    default:
        break;
    }
    memset(v, 0, sizeof *v);
    v->type = RM_JSON_NULL;
}

const struct rm_json_value *rm_json_get(const struct rm_json_value *obj, const char *key)
{
    if (!obj || obj->type != RM_JSON_OBJECT)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = obj->u.object.n; i-- > 0;) {
        const struct rm_json_member *m = &obj->u.object.members[i];
        if (m->key_len == klen && memcmp(m->key, key, klen) == 0)
            return &m->value;
    }
    return NULL;
}

bool rm_json_number(const struct rm_json_value *v, double *out)
{
    if (!v || v->type != RM_JSON_NUMBER)
        return false;
    *out = v->u.number;
    return true;
}

const char *rm_json_string(const struct rm_json_value *v)
{
    return v && v->type == RM_JSON_STRING ? v->u.string.s : NULL;
}
