/*
 * json.h: a small, strict JSON reader (RFC 8259) for files Ringmaster reads back, such as
 * traces.
 *
 * Two layers:
 *  - a pull reader that walks a document held in memory one token at a time, without
 *    allocating per token, so a large array can be read one element at a time;
 *  - a tree (DOM) builder that turns the next value of a pull reader into a tree, for the parts
 *    of a document small enough to hold at once (one trace event, say).
 *
 * Strict: no comments, no trailing commas, no leading zeros, no NaN or Infinity, no control
 * characters in strings, UTF-8 checked, lone surrogates refused, nothing after the document.
 * Limits (nesting depth, string length, tree size) are checked, so hostile input cannot exhaust
 * the stack or memory. Errors name the byte offset (counted from 0) where reading stopped.
 *
 * Pure code: no I/O, no global state. A reader is used by one thread at a time.
 */
#ifndef RM_JSON_H
#define RM_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Limits of one reader. A zero field means the default given beside it. */
struct rm_json_limits {
    unsigned max_depth; /* arrays and objects open at once [64] */
    size_t max_string;  /* bytes of one decoded string or key [1 MiB] */
    size_t max_values;  /* values in one tree built by rm_json_read_value [1 Mi] */
};

enum rm_json_tok {
    RM_JSON_TOK_NULL,
    RM_JSON_TOK_FALSE,
    RM_JSON_TOK_TRUE,
    RM_JSON_TOK_NUMBER,
    RM_JSON_TOK_STRING,
    RM_JSON_TOK_KEY, /* an object member's name; its value is the next token */
    RM_JSON_TOK_BEGIN_ARRAY,
    RM_JSON_TOK_END_ARRAY,
    RM_JSON_TOK_BEGIN_OBJECT,
    RM_JSON_TOK_END_OBJECT,
    RM_JSON_TOK_EOF /* the document is complete and nothing but white space follows it */
};

struct rm_json_token {
    enum rm_json_tok kind;
    double number;   /* RM_JSON_TOK_NUMBER */
    const char *str; /* STRING and KEY: decoded UTF-8, NUL-terminated; may hold NUL bytes
                      * (from \u0000), so use len. Owned by the reader, valid until its next
                      * call. */
    size_t len;
    size_t offset; /* byte offset of the token's first character */
};

/* The pull reader. Fields are private; callers allocate it and use init/close. */
struct rm_json_reader {
    const char *buf;
    size_t len, pos;
    struct rm_json_limits lim;
    unsigned depth;
    unsigned char *stack; /* one entry per open container: '[' or '{' */
    int state;
    char *str; /* decoded string scratch */
    size_t str_len, str_cap;
    int rc; /* 0, or the sticky error */
    char err[128];
};

/*
 * Prepares r to read the document buf[0..len).
 *  buf: borrowed; must stay unchanged until rm_json_reader_close. Need not be NUL-terminated.
 *  lim: borrowed, copied; NULL for all defaults.
 * Returns 0 or RM_ENOMEM. r must be closed with rm_json_reader_close either way.
 */
int rm_json_reader_init(struct rm_json_reader *r, const char *buf, size_t len,
                        const struct rm_json_limits *lim);

/* Frees what the reader holds. Safe on a reader whose init failed, and twice. */
void rm_json_reader_close(struct rm_json_reader *r);

/*
 * Reads the next token into *tok. After RM_JSON_TOK_EOF every call returns it again.
 * Returns 0, RM_EINVAL for malformed input, RM_EMSGSIZE for a limit exceeded, or RM_ENOMEM.
 * An error is
 * sticky: later calls return it too, and rm_json_reader_error describes it.
 */
int rm_json_next(struct rm_json_reader *r, struct rm_json_token *tok);

/* The last error as one line, such as "expected ':' at byte 17"; "" when there was none.
 * Owned by the reader, valid until rm_json_reader_close. */
const char *rm_json_reader_error(const struct rm_json_reader *r);

/* Byte offset where the reader stands: where the next token is looked for, or where the error
 * was found. */
size_t rm_json_reader_offset(const struct rm_json_reader *r);

/* ---- trees ---------------------------------------------------------------------------------- */

enum rm_json_type {
    RM_JSON_NULL,
    RM_JSON_FALSE,
    RM_JSON_TRUE,
    RM_JSON_NUMBER,
    RM_JSON_STRING,
    RM_JSON_ARRAY,
    RM_JSON_OBJECT
};

struct rm_json_member;

/* One value of a tree. Strings are NUL-terminated and may hold NUL bytes (use len). */
struct rm_json_value {
    enum rm_json_type type;
    union {
        double number;
        struct {
            char *s;
            size_t len;
        } string;
        struct {
            struct rm_json_value *items;
            size_t n;
        } array;
        struct {
            struct rm_json_member *members; /* in document order */
            size_t n;
        } object;
    } u;
};

struct rm_json_member {
    char *key;
    size_t key_len;
    struct rm_json_value value;
};

/*
 * Builds a tree from the value that starts with first, the token just returned by
 * rm_json_next on r (a scalar, BEGIN_ARRAY or BEGIN_OBJECT; anything else is RM_EINVAL).
 * Reads the rest of that value from r.
 *  out: filled on success; the caller frees it with rm_json_value_free. Left as a null value on
 *       error.
 * Returns 0, RM_EINVAL (malformed input, or first is not a value's start), RM_EMSGSIZE (a limit
 * exceeded) or RM_ENOMEM; rm_json_reader_error describes it.
 */
int rm_json_read_value(struct rm_json_reader *r, const struct rm_json_token *first,
                       struct rm_json_value *out);

/* Reads and drops the rest of the value that starts with first (see rm_json_read_value),
 * without building it. Returns 0 or the reader's error. */
int rm_json_skip_value(struct rm_json_reader *r, const struct rm_json_token *first);

/*
 * Parses a whole document buf[0..len) into a tree.
 *  lim: borrowed; NULL for defaults. out: as for rm_json_read_value.
 *  err: borrowed, errlen bytes; receives the one-line reason on failure (may be NULL).
 * Returns 0, RM_EINVAL, RM_EMSGSIZE or RM_ENOMEM.
 */
int rm_json_parse(const char *buf, size_t len, const struct rm_json_limits *lim,
                  struct rm_json_value *out, char *err, size_t errlen);

/* Frees what v holds (not v itself) and leaves it a null value. NULL is allowed. */
void rm_json_value_free(struct rm_json_value *v);

/* The value of obj's member named key (the last one, if the name repeats); NULL when obj is
 * NULL or not an object, or has no such member. Borrowed from obj. */
const struct rm_json_value *rm_json_get(const struct rm_json_value *obj, const char *key);

/* True when v is a number; then *out is set. v may be NULL. */
bool rm_json_number(const struct rm_json_value *v, double *out);

/* v's string, or NULL when v is NULL or not a string. Borrowed from v. */
const char *rm_json_string(const struct rm_json_value *v);

#endif /* RM_JSON_H */
